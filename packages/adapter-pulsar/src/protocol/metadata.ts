/**
 * `MessageMetadata` (one per entry) and `SingleMessageMetadata` (one per member of a batch entry), and
 * the split of a batch entry into its members, so entries written by batching clients (Java, Go, C++)
 * read like single messages.
 */
import { WalError } from '@walstream/core';
import { decompressPayload } from '../codecs/index.js';
import type { KeyValue } from './commands.js';
import { ProtoReader, ProtoWriter } from './proto.js';

export interface OutgoingMetadata {
  readonly producerName: string;
  readonly sequenceId: number;
  readonly publishTime: number;
  readonly properties: Readonly<Record<string, string>>;
  readonly compression?: { readonly type: number; readonly uncompressedSize: number };
}

export function encodeMessageMetadata(m: OutgoingMetadata): Uint8Array {
  const w = new ProtoWriter(128);
  w.string(1, m.producerName).uint(2, m.sequenceId).uint(3, m.publishTime);
  for (const key in m.properties) {
    const value = m.properties[key]!;
    w.message(4, (kv) => {
      kv.string(1, key).string(2, value);
    });
  }
  if (m.compression) w.uint(8, m.compression.type).uint(9, m.compression.uncompressedSize);
  return w.finish();
}

export interface IncomingMetadata {
  readonly producerName: string;
  readonly sequenceId: bigint;
  readonly publishTime: number;
  readonly properties: Record<string, string>;
  readonly compression: number;
  readonly uncompressedSize: number;
  /** Present (≥ 1) when the entry is a batch; absent for a single message. */
  readonly numMessagesInBatch: number | undefined;
  readonly encrypted: boolean;
  /** Set on each chunk of a message a producer split into several entries (see chunks.ts). */
  readonly chunk: ChunkInfo | undefined;
  /** Pulsar's marker entries (replication, transactions) are internal and never delivered. */
  readonly markerType: number | undefined;
}

/** Where one entry sits in a chunked message. */
export interface ChunkInfo {
  readonly uuid: string;
  readonly chunkId: number;
  readonly numChunks: number;
  /** Bytes of the whole (still compressed) payload, every chunk together. */
  readonly totalSize: number;
}

function decodeKeyValue(bytes: Uint8Array): KeyValue {
  const r = new ProtoReader(bytes);
  let key = '';
  let value = '';
  while (r.next()) {
    if (r.field === 1) key = r.string();
    else if (r.field === 2) value = r.string();
    else r.skip();
  }
  return { key, value };
}

export function decodeMessageMetadata(bytes: Uint8Array): IncomingMetadata {
  const r = new ProtoReader(bytes);
  let producerName = '';
  let sequenceId = 0n;
  let publishTime = 0;
  const properties: Record<string, string> = {};
  let compression = 0;
  let uncompressedSize = 0;
  let numMessagesInBatch: number | undefined;
  let encrypted = false;
  let uuid: string | undefined;
  let numChunks = 0;
  let totalSize = 0;
  let chunkId = 0;
  let markerType: number | undefined;
  while (r.next()) {
    switch (r.field) {
      case 1:
        producerName = r.string();
        break;
      case 2:
        sequenceId = r.uint64();
        break;
      case 3:
        publishTime = r.uint();
        break;
      case 4: {
        const kv = decodeKeyValue(r.bytes());
        properties[kv.key] = kv.value;
        break;
      }
      case 8:
        compression = r.uint();
        break;
      case 9:
        uncompressedSize = r.uint();
        break;
      case 11:
        numMessagesInBatch = r.int32();
        break;
      case 13:
        encrypted = true;
        r.skip();
        break;
      case 20:
        markerType = r.int32();
        break;
      case 26:
        uuid = r.string();
        break;
      case 27:
        numChunks = r.int32();
        break;
      case 28:
        totalSize = r.int32();
        break;
      case 29:
        chunkId = r.int32();
        break;
      default:
        r.skip();
    }
  }
  return {
    producerName,
    sequenceId,
    publishTime,
    properties,
    compression,
    uncompressedSize,
    numMessagesInBatch,
    encrypted,
    // A producer with chunking on marks messages that fit in one entry as one chunk of one: not chunked.
    chunk: uuid !== undefined && numChunks > 1 ? { uuid, chunkId, numChunks, totalSize } : undefined,
    markerType,
  };
}

interface SingleMessageMetadata {
  readonly properties: Record<string, string>;
  readonly payloadSize: number;
  readonly compactedOut: boolean;
}

function decodeSingleMessageMetadata(bytes: Uint8Array): SingleMessageMetadata {
  const r = new ProtoReader(bytes);
  const properties: Record<string, string> = {};
  let payloadSize: number | undefined;
  let compactedOut = false;
  while (r.next()) {
    if (r.field === 1) {
      const kv = decodeKeyValue(r.bytes());
      properties[kv.key] = kv.value;
    } else if (r.field === 3) payloadSize = r.int32();
    else if (r.field === 4) compactedOut = r.bool();
    else r.skip();
  }
  if (payloadSize === undefined || payloadSize < 0)
    throw malformedEntry('a batch member has no payload_size');
  return { properties, payloadSize, compactedOut };
}

/** One message as the reader hands it on: a whole entry, or one member of a batch entry. */
export interface EntryMessage {
  /** -1 for an entry that is not a batch. */
  readonly batchIndex: number;
  readonly batchSize: number;
  readonly properties: Record<string, string>;
  readonly payload: Uint8Array;
}

function unsupported(what: string): WalError {
  return new WalError('UNRECOVERABLE', `cannot read a Pulsar entry: ${what}`, {
    retriable: false,
    details: { reason: 'unsupported-feature' },
  });
}

/**
 * An entry whose stored bytes do not parse. Not retriable, unlike a malformed frame (which the
 * connection may have garbled): reading the entry again gives the same bytes.
 */
function malformedEntry(why: string): WalError {
  return new WalError('UNRECOVERABLE', `cannot read a Pulsar entry: ${why}`, {
    retriable: false,
    details: { reason: 'malformed-payload' },
  });
}

/**
 * The messages of one entry (or of one chunked message, its chunks put together). A batch entry's payload is `[u32 size][SingleMessageMetadata][payload]`
 * per member; members a compaction dropped are skipped.
 */
export function splitEntry(metadata: IncomingMetadata, rawPayload: Uint8Array): EntryMessage[] {
  if (metadata.encrypted)
    throw unsupported('it is encrypted (walstream does not decrypt: write the topic without encryption)');
  if (metadata.chunk) throw unsupported('a chunk of a message reaches splitEntry unassembled');
  const payload = decompressPayload(metadata.compression, rawPayload, metadata.uncompressedSize);
  if (metadata.numMessagesInBatch === undefined) {
    return [{ batchIndex: -1, batchSize: 0, properties: metadata.properties, payload }];
  }
  const count = metadata.numMessagesInBatch;
  if (count < 1 || count > payload.length)
    throw malformedEntry(`batch of ${count} messages in ${payload.length} bytes`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const messages: EntryMessage[] = [];
  let offset = 0;
  for (let index = 0; index < count; index++) {
    if (offset + 4 > payload.length) throw malformedEntry('batch member header past the end');
    const size = view.getUint32(offset);
    offset += 4;
    if (size > payload.length - offset) throw malformedEntry('batch member metadata past the end');
    const single = decodeSingleMessageMetadata(payload.subarray(offset, offset + size));
    offset += size;
    if (single.payloadSize > payload.length - offset)
      throw malformedEntry('batch member payload past the end');
    const body = payload.subarray(offset, offset + single.payloadSize);
    offset += single.payloadSize;
    if (single.compactedOut) continue;
    messages.push({ batchIndex: index, batchSize: count, properties: single.properties, payload: body });
  }
  return messages;
}

/** Encodes a batch entry the way batching clients do (tests use it to check {@link splitEntry}). */
export function encodeBatchPayload(
  members: readonly { properties: Readonly<Record<string, string>>; payload: Uint8Array }[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const member of members) {
    const w = new ProtoWriter(64);
    for (const key in member.properties) {
      const value = member.properties[key]!;
      w.message(1, (kv) => {
        kv.string(1, key).string(2, value);
      });
    }
    w.int32(3, member.payload.length);
    const single = w.finish();
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, single.length);
    parts.push(header, single, member.payload);
  }
  return Buffer.concat(parts);
}
