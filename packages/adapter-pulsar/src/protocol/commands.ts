/**
 * Our own schema for the part of Pulsar's binary protocol the client speaks, written from the protocol
 * documentation: command type numbers, field numbers, and encoders/decoders for each command we send or
 * receive. `BaseCommand` keeps each command in the field whose number equals the command's type, which
 * is what {@link encodeCommand} and {@link decodeBaseCommand} rely on.
 */
import { malformed } from './errors.js';
import { ProtoReader, ProtoWriter } from './proto.js';

export const CommandType = {
  CONNECT: 2,
  CONNECTED: 3,
  SUBSCRIBE: 4,
  PRODUCER: 5,
  SEND: 6,
  SEND_RECEIPT: 7,
  SEND_ERROR: 8,
  MESSAGE: 9,
  ACK: 10,
  FLOW: 11,
  UNSUBSCRIBE: 12,
  SUCCESS: 13,
  ERROR: 14,
  CLOSE_PRODUCER: 15,
  CLOSE_CONSUMER: 16,
  PRODUCER_SUCCESS: 17,
  PING: 18,
  PONG: 19,
  LOOKUP: 23,
  LOOKUP_RESPONSE: 24,
  REACHED_END_OF_TOPIC: 27,
  SEEK: 28,
  GET_LAST_MESSAGE_ID: 29,
  GET_LAST_MESSAGE_ID_RESPONSE: 30,
  ACTIVE_CONSUMER_CHANGE: 31,
  ACK_RESPONSE: 38,
  TOPIC_MIGRATED: 68,
} as const;

/** Protocol v19: broker entry metadata and ack receipts stay off because we never request them. */
export const PROTOCOL_VERSION = 19;

export const ProducerAccessMode = {
  Shared: 0,
  Exclusive: 1,
  WaitForExclusive: 2,
  ExclusiveWithFencing: 3,
} as const;
export const SubType = { Exclusive: 0, Shared: 1, Failover: 2, KeyShared: 3 } as const;
export const InitialPosition = { Latest: 0, Earliest: 1 } as const;
export const LookupType = { Redirect: 0, Connect: 1, Failed: 2 } as const;
export const CompressionType = { NONE: 0, LZ4: 1, ZLIB: 2, ZSTD: 3, SNAPPY: 4 } as const;

/** A position in a topic: `MessageIdData`. `partition` and `batchIndex` are -1 when not applicable. */
export interface MessageIdData {
  readonly ledgerId: bigint;
  readonly entryId: bigint;
  readonly partition: number;
  readonly batchIndex: number;
  /** Members of the batch this id points into; 0 for an entry that is not a batch. */
  readonly batchSize: number;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

// ---------------------------------------------------------------- MessageIdData

/** Writes every field, as Pulsar's Go client (and so Milvus) serializes ids, so marshalled ids match. */
export function writeMessageId(w: ProtoWriter, id: MessageIdData): void {
  w.uint64(1, id.ledgerId).uint64(2, id.entryId).int32(3, id.partition).int32(4, id.batchIndex);
  w.int32(6, id.batchSize);
}

export function encodeMessageId(id: MessageIdData): Uint8Array {
  const w = new ProtoWriter(32);
  writeMessageId(w, id);
  return w.finish().slice();
}

export function decodeMessageId(bytes: Uint8Array): MessageIdData {
  const r = new ProtoReader(bytes);
  let ledgerId: bigint | undefined;
  let entryId: bigint | undefined;
  let partition = -1;
  let batchIndex = -1;
  let batchSize = 0;
  while (r.next()) {
    switch (r.field) {
      case 1:
        ledgerId = r.uint64();
        break;
      case 2:
        entryId = r.uint64();
        break;
      case 3:
        partition = r.int32();
        break;
      case 4:
        batchIndex = r.int32();
        break;
      case 6:
        batchSize = r.int32();
        break;
      default:
        r.skip();
    }
  }
  if (ledgerId === undefined || entryId === undefined)
    throw malformed('MessageIdData without ledgerId/entryId');
  return { ledgerId, entryId, partition, batchIndex, batchSize };
}

// ---------------------------------------------------------------- BaseCommand

/** One command as received: its type and the bytes of its body (empty for PING/PONG). */
export interface RawCommand {
  readonly type: number;
  readonly body: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export function encodeCommand(type: number, write?: (w: ProtoWriter) => void): Uint8Array {
  const w = new ProtoWriter(64);
  w.uint(1, type);
  w.message(type, write ?? (() => {}));
  return w.finish();
}

export function decodeBaseCommand(bytes: Uint8Array): RawCommand {
  const r = new ProtoReader(bytes);
  let type: number | undefined;
  let body: Uint8Array | undefined;
  // Pulsar writes the type first; bodies seen before it (never in practice) are kept until it is known.
  let early: [number, Uint8Array][] | undefined;
  while (r.next()) {
    if (r.field === 1) {
      type = r.uint();
    } else if (r.wire === 2) {
      const field = r.field;
      const value = r.bytes();
      if (type === undefined) {
        early ??= [];
        early.push([field, value]);
      } else if (field === type) body = value;
    } else r.skip();
  }
  if (type === undefined) throw malformed('BaseCommand without a type');
  if (early) for (const [field, value] of early) if (field === type) body ??= value;
  return { type, body: body ?? EMPTY };
}

// ---------------------------------------------------------------- session

export function connectCommand(clientVersion: string): Uint8Array {
  return encodeCommand(CommandType.CONNECT, (w) => {
    w.string(1, clientVersion).uint(4, PROTOCOL_VERSION);
    // FeatureFlags: none. Broker entry metadata would add a prefix to every MESSAGE we do not need.
    w.message(10, () => {});
  });
}

export interface Connected {
  readonly serverVersion: string;
  readonly protocolVersion: number;
  readonly maxMessageSize: number | undefined;
}

export function decodeConnected(body: Uint8Array): Connected {
  const r = new ProtoReader(body);
  let serverVersion = '';
  let protocolVersion = 0;
  let maxMessageSize: number | undefined;
  while (r.next()) {
    if (r.field === 1) serverVersion = r.string();
    else if (r.field === 2) protocolVersion = r.int32();
    else if (r.field === 3) maxMessageSize = r.int32();
    else r.skip();
  }
  return { serverVersion, protocolVersion, maxMessageSize };
}

// ---------------------------------------------------------------- generic answers

export interface CommandErrorBody {
  readonly requestId: number;
  readonly error: number;
  readonly message: string;
}

/** ERROR {request_id, error, message} and SEND_ERROR {producer_id, sequence_id, error, message}. */
export function decodeError(body: Uint8Array): CommandErrorBody {
  const r = new ProtoReader(body);
  let requestId = -1;
  let error = 0;
  let message = '';
  while (r.next()) {
    if (r.field === 1) requestId = r.uint();
    else if (r.field === 2) error = r.uint();
    else if (r.field === 3) message = r.string();
    else r.skip();
  }
  return { requestId, error, message };
}

/** The `request_id` of SUCCESS, PRODUCER_SUCCESS, ERROR (field 1) or LOOKUP_RESPONSE (field 4) etc. */
export function requestIdOf(type: number, body: Uint8Array): number | undefined {
  const field =
    type === CommandType.LOOKUP_RESPONSE ? 4 : type === CommandType.GET_LAST_MESSAGE_ID_RESPONSE ? 2 : 1;
  const r = new ProtoReader(body);
  while (r.next()) {
    if (r.field === field && r.wire === 0) return r.uint();
    r.skip();
  }
  return undefined;
}

// ---------------------------------------------------------------- lookup

export function lookupCommand(topic: string, requestId: number, authoritative: boolean): Uint8Array {
  return encodeCommand(CommandType.LOOKUP, (w) => {
    w.string(1, topic).uint(2, requestId).bool(3, authoritative);
  });
}

export interface LookupResponse {
  readonly brokerServiceUrl: string | undefined;
  readonly response: number;
  readonly authoritative: boolean;
  readonly error: number | undefined;
  readonly message: string;
  readonly proxyThroughServiceUrl: boolean;
}

export function decodeLookupResponse(body: Uint8Array): LookupResponse {
  const r = new ProtoReader(body);
  let brokerServiceUrl: string | undefined;
  let response: number = LookupType.Failed;
  let authoritative = false;
  let error: number | undefined;
  let message = '';
  let proxyThroughServiceUrl = false;
  while (r.next()) {
    switch (r.field) {
      case 1:
        brokerServiceUrl = r.string();
        break;
      case 3:
        response = r.uint();
        break;
      case 5:
        authoritative = r.bool();
        break;
      case 6:
        error = r.uint();
        break;
      case 7:
        message = r.string();
        break;
      case 8:
        proxyThroughServiceUrl = r.bool();
        break;
      default:
        r.skip();
    }
  }
  return { brokerServiceUrl, response, authoritative, error, message, proxyThroughServiceUrl };
}

// ---------------------------------------------------------------- producer

export interface ProducerCommand {
  readonly topic: string;
  readonly producerId: number;
  readonly requestId: number;
  readonly producerName: string;
  readonly accessMode: number;
  /** The topic epoch the producer claims; an exclusive producer below the topic's epoch is fenced. */
  readonly topicEpoch: bigint;
  /** Raised on every re-creation of the same producer, so the broker can tell old from new sessions. */
  readonly epoch: number;
}

export function producerCommand(p: ProducerCommand): Uint8Array {
  return encodeCommand(CommandType.PRODUCER, (w) => {
    w.string(1, p.topic).uint(2, p.producerId).uint(3, p.requestId).string(4, p.producerName);
    w.uint(8, p.epoch).bool(9, true).uint(10, p.accessMode).uint64(11, p.topicEpoch);
  });
}

export interface ProducerSuccess {
  readonly producerName: string;
  readonly lastSequenceId: bigint;
  readonly topicEpoch: bigint | undefined;
  readonly producerReady: boolean;
}

export function decodeProducerSuccess(body: Uint8Array): ProducerSuccess {
  const r = new ProtoReader(body);
  let producerName = '';
  let lastSequenceId = -1n;
  let topicEpoch: bigint | undefined;
  let producerReady = true;
  while (r.next()) {
    if (r.field === 2) producerName = r.string();
    else if (r.field === 3) lastSequenceId = r.int64();
    else if (r.field === 5) topicEpoch = r.uint64();
    else if (r.field === 6) producerReady = r.bool();
    else r.skip();
  }
  return { producerName, lastSequenceId, topicEpoch, producerReady };
}

export function sendCommand(producerId: number, sequenceId: number, numMessages: number): Uint8Array {
  return encodeCommand(CommandType.SEND, (w) => {
    w.uint(1, producerId).uint(2, sequenceId);
    if (numMessages !== 1) w.uint(3, numMessages);
  });
}

export interface SendReceipt {
  readonly producerId: number;
  readonly sequenceId: number;
  readonly messageId: MessageIdData | undefined;
}

export function decodeSendReceipt(body: Uint8Array): SendReceipt {
  const r = new ProtoReader(body);
  let producerId = -1;
  let sequenceId = -1;
  let messageId: MessageIdData | undefined;
  while (r.next()) {
    if (r.field === 1) producerId = r.uint();
    else if (r.field === 2) sequenceId = r.uint();
    else if (r.field === 3) messageId = decodeMessageId(r.bytes());
    else r.skip();
  }
  return { producerId, sequenceId, messageId };
}

export interface SendError {
  readonly producerId: number;
  readonly sequenceId: number;
  readonly error: number;
  readonly message: string;
}

export function decodeSendError(body: Uint8Array): SendError {
  const r = new ProtoReader(body);
  let producerId = -1;
  let sequenceId = -1;
  let error = 0;
  let message = '';
  while (r.next()) {
    if (r.field === 1) producerId = r.uint();
    else if (r.field === 2) sequenceId = r.uint();
    else if (r.field === 3) error = r.uint();
    else if (r.field === 4) message = r.string();
    else r.skip();
  }
  return { producerId, sequenceId, error, message };
}

/** CLOSE_PRODUCER {producer_id, request_id} and CLOSE_CONSUMER {consumer_id, request_id}. */
export function closeCommand(type: number, id: number, requestId: number): Uint8Array {
  return encodeCommand(type, (w) => {
    w.uint(1, id).uint(2, requestId);
  });
}

/** The producer or consumer id (field 1) of CLOSE_*, SEND_RECEIPT, MESSAGE, REACHED_END_OF_TOPIC, ... */
export function resourceIdOf(body: Uint8Array): number | undefined {
  const r = new ProtoReader(body);
  while (r.next()) {
    if (r.field === 1 && r.wire === 0) return r.uint();
    r.skip();
  }
  return undefined;
}

// ---------------------------------------------------------------- consumer

export interface SubscribeCommand {
  readonly topic: string;
  readonly subscription: string;
  readonly consumerId: number;
  readonly requestId: number;
  readonly consumerName: string;
  readonly durable: boolean;
  readonly startMessageId: MessageIdData | undefined;
  readonly initialPosition: number;
  /** False: subscribing to a missing topic fails with TopicNotFound instead of creating it. */
  readonly forceTopicCreation: boolean;
}

export function subscribeCommand(s: SubscribeCommand): Uint8Array {
  return encodeCommand(CommandType.SUBSCRIBE, (w) => {
    w.string(1, s.topic).string(2, s.subscription).uint(3, SubType.Exclusive);
    w.uint(4, s.consumerId).uint(5, s.requestId).string(6, s.consumerName).bool(8, s.durable);
    if (s.startMessageId) w.message(9, (m) => writeMessageId(m, s.startMessageId!));
    w.uint(13, s.initialPosition).bool(15, s.forceTopicCreation);
  });
}

export function flowCommand(consumerId: number, permits: number): Uint8Array {
  return encodeCommand(CommandType.FLOW, (w) => {
    w.uint(1, consumerId).uint(2, permits);
  });
}

export function seekCommand(consumerId: number, requestId: number, id: MessageIdData): Uint8Array {
  return encodeCommand(CommandType.SEEK, (w) => {
    w.uint(1, consumerId)
      .uint(2, requestId)
      .message(3, (m) => writeMessageId(m, id));
  });
}

export function getLastMessageIdCommand(consumerId: number, requestId: number): Uint8Array {
  return encodeCommand(CommandType.GET_LAST_MESSAGE_ID, (w) => {
    w.uint(1, consumerId).uint(2, requestId);
  });
}

export function decodeGetLastMessageIdResponse(body: Uint8Array): MessageIdData {
  const r = new ProtoReader(body);
  let last: MessageIdData | undefined;
  while (r.next()) {
    if (r.field === 1) last = decodeMessageId(r.bytes());
    else r.skip();
  }
  if (!last) throw malformed('GET_LAST_MESSAGE_ID_RESPONSE without last_message_id');
  return last;
}

export interface CommandMessageBody {
  readonly consumerId: number;
  readonly messageId: MessageIdData;
  /** Bit set of the batch members still unacknowledged (all when absent). */
  readonly ackSet: readonly bigint[];
}

const NO_ACK_SET: readonly bigint[] = Object.freeze([]);

export function decodeCommandMessage(body: Uint8Array): CommandMessageBody {
  const r = new ProtoReader(body);
  let consumerId = -1;
  let messageId: MessageIdData | undefined;
  let ackSet: bigint[] | undefined;
  while (r.next()) {
    if (r.field === 1) consumerId = r.uint();
    else if (r.field === 2) messageId = decodeMessageId(r.bytes());
    else if (r.field === 4 && r.wire === 0) {
      ackSet ??= [];
      ackSet.push(r.int64());
    } else r.skip();
  }
  if (!messageId) throw malformed('MESSAGE without message_id');
  return { consumerId, messageId, ackSet: ackSet ?? NO_ACK_SET };
}

export const PING = encodeCommand(CommandType.PING);
export const PONG = encodeCommand(CommandType.PONG);
