import { create } from '@bufbuild/protobuf';
import {
  type AppendResult as CoreAppendResult,
  type ImmutableMessage as CoreImmutableMessage,
  ImmutableMessage as CoreImmutableMessageClass,
  type WalCheckpoint as CoreWalCheckpoint,
  ImmutableTxnMessage,
  type MessageID,
  MutableMessage,
  SystemMessageType,
  unmarshalMessageId,
  WalError,
} from '@walstream/core';
import {
  type AppendResult,
  AppendResultSchema,
  type ImmutableMessage,
  ImmutableMessageSchema,
  type Message,
  type MessageId,
  MessageIdSchema,
  MessageSchema,
  TxnContextSchema,
  type TxnMessage,
  TxnMessageSchema,
  type WalCheckpoint,
  WalCheckpointSchema,
} from '../gen/walstream/v1/common_pb.js';
import { invalidWire, required } from './invalid.js';

export function toWireMessageId(id: MessageID): MessageId {
  return create(MessageIdSchema, { id: id.marshal(), walName: id.walName });
}

/**
 * The MessageID a wire id names, unmarshalled by the codec its adapter registered in core. An adapter that
 * is not loaded in this process, or an id its codec rejects, is INVALID_ARGUMENT: the peer sent something
 * this process cannot read, and sending it again will not change that.
 */
export function fromWireMessageId(id: MessageId | undefined, field = 'message id'): MessageID {
  const wire = required(id, field);
  if (wire.walName === '') throw invalidWire(`${field} names no wal_name`, { details: { field } });
  try {
    return unmarshalMessageId(wire.walName, wire.id);
  } catch (error) {
    const reason =
      WalError.is(error) && error.code === 'NOT_REGISTERED' ? 'no codec is registered for' : 'bad';
    throw invalidWire(`${field}: ${reason} ${wire.walName} MessageID ${JSON.stringify(wire.id)}`, {
      cause: error,
      details: { field, walName: wire.walName },
    });
  }
}

/** A message to append, as the producer stream carries it. Properties are copied; the payload is shared. */
export function toWireMessage(message: MutableMessage): Message {
  return create(MessageSchema, { payload: message.payload, properties: { ...message.properties } });
}

export function fromWireMessage(message: Message | undefined, field = 'message'): MutableMessage {
  const wire = required(message, field);
  return new MutableMessage(wire.payload, wire.properties);
}

/**
 * A message as read from the log. A committed txn ({@link ImmutableTxnMessage}) goes through
 * {@link toWireTxn} instead: as a single message it would lose its begin and bodies.
 */
export function toWireImmutable(message: CoreImmutableMessage): ImmutableMessage {
  if (message.messageType === SystemMessageType.Txn) {
    throw invalidWire('a committed txn travels as a TxnMessage (toWireTxn), not as one ImmutableMessage');
  }
  return create(ImmutableMessageSchema, {
    id: toWireMessageId(message.id),
    payload: message.payload,
    properties: { ...message.properties },
  });
}

export function fromWireImmutable(
  message: ImmutableMessage | undefined,
  field = 'message',
): CoreImmutableMessage {
  const wire = required(message, field);
  return new CoreImmutableMessageClass(
    fromWireMessageId(wire.id, `${field}.id`),
    wire.payload,
    wire.properties,
  );
}

/** A committed txn as one unit: begin, the bodies as readers see them (at the commit's timetick), commit. */
export function toWireTxn(txn: ImmutableTxnMessage): TxnMessage {
  return create(TxnMessageSchema, {
    begin: toWireImmutable(txn.begin),
    bodies: txn.bodies.map(toWireImmutable),
    commit: toWireImmutable(txn.commit),
  });
}

export function fromWireTxn(txn: TxnMessage | undefined, field = 'txn'): ImmutableTxnMessage {
  const wire = required(txn, field);
  const begin = fromWireImmutable(wire.begin, `${field}.begin`);
  const bodies = wire.bodies.map((body, i) => fromWireImmutable(body, `${field}.bodies[${i}]`));
  const commit = fromWireImmutable(wire.commit, `${field}.commit`);
  try {
    return new ImmutableTxnMessage(begin, bodies, commit);
  } catch (error) {
    throw invalidWire(`${field} is not a committed txn`, { cause: error, details: { field } });
  }
}

/**
 * An append's result. `lastConfirmedId`, when the node knows it, lets a producer resume a reader at its
 * own write; core's `extra` (interceptor-specific values) does not travel.
 */
export function toWireAppendResult(result: CoreAppendResult, lastConfirmedId?: MessageID): AppendResult {
  return create(AppendResultSchema, {
    id: toWireMessageId(result.messageId),
    timeTick: result.timeTick,
    ...(result.txn === undefined
      ? {}
      : {
          txn: create(TxnContextSchema, {
            txnId: result.txn.txnId,
            keepaliveMilliseconds: BigInt(result.txn.keepaliveMs),
          }),
        }),
    ...(lastConfirmedId === undefined ? {} : { lastConfirmedId: toWireMessageId(lastConfirmedId) }),
  });
}

/** What {@link fromWireAppendResult} returns: core's result plus the last-confirmed id when it was sent. */
export interface WireAppendResult extends CoreAppendResult {
  readonly lastConfirmedId?: MessageID;
}

export function fromWireAppendResult(result: AppendResult | undefined, field = 'result'): WireAppendResult {
  const wire = required(result, field);
  const messageId = fromWireMessageId(wire.id, `${field}.id`);
  const txn =
    wire.txn === undefined
      ? undefined
      : { txnId: wire.txn.txnId, keepaliveMs: Number(wire.txn.keepaliveMilliseconds) };
  return {
    messageId,
    timeTick: wire.timeTick,
    ...(txn === undefined ? {} : { txn }),
    ...(wire.lastConfirmedId === undefined
      ? {}
      : { lastConfirmedId: fromWireMessageId(wire.lastConfirmedId, `${field}.last_confirmed_id`) }),
  };
}

/** A WAL checkpoint as a node reports it. The catalog record's term travels in the status's pchannel. */
export function toWireCheckpoint(checkpoint: CoreWalCheckpoint): WalCheckpoint {
  return create(WalCheckpointSchema, {
    messageId: create(MessageIdSchema, { id: checkpoint.messageId, walName: checkpoint.walName }),
    timeTick: checkpoint.timeTick,
  });
}

export function fromWireCheckpoint(
  checkpoint: WalCheckpoint | undefined,
  field = 'checkpoint',
): CoreWalCheckpoint {
  const wire = required(checkpoint, field);
  const id = required(wire.messageId, `${field}.message_id`);
  // Checked here so a bad id fails at the boundary rather than at recovery.
  fromWireMessageId(id, `${field}.message_id`);
  return { messageId: id.id, walName: id.walName, timeTick: wire.timeTick };
}
