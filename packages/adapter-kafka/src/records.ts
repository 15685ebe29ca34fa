import { ImmutableMessage, type MutableMessage } from '@walstream/core';
import type { InRecord, OutRecord, RecordHeader } from './driver/types.js';
import { KafkaMessageId } from './message-id.js';

/**
 * The adapter's own header `<term base-36>.<writer id>`, on the last record of every transaction it
 * commits (and on its open marker; earlier versions put it on every record). The last committed record
 * of a pchannel thus tells which term (and which writer of that term) wrote last: the fencing check
 * reads it.
 * Never shown to readers as a property (user keys cannot start with `_`, so it cannot collide).
 */
export const STAMP_HEADER = '__ws';
/** Marks the record a writer appends when it takes over a pchannel: it carries only the stamp. */
export const OPEN_HEADER = '__ws.open';

export interface Stamp {
  readonly term: bigint;
  readonly writer: string;
}

export function encodeStamp(stamp: Stamp): Buffer {
  return Buffer.from(`${stamp.term.toString(36)}.${stamp.writer}`);
}

export function decodeStamp(value: Buffer): Stamp | undefined {
  const text = value.toString('utf8');
  const dot = text.indexOf('.');
  if (dot <= 0) return undefined;
  const digits = text.slice(0, dot);
  if (!/^[0-9a-z]+$/.test(digits)) return undefined;
  let term = 0n;
  for (const char of digits) term = term * 36n + BigInt(Number.parseInt(char, 36));
  return { term, writer: text.slice(dot + 1) };
}

export function stampOf(record: InRecord): Stamp | undefined {
  for (const [key, value] of record.headers) if (key === STAMP_HEADER) return decodeStamp(value);
  return undefined;
}

export function isOpenMarker(record: InRecord): boolean {
  return record.headers.some(([key]) => key === OPEN_HEADER);
}

/**
 * Payload as value, properties as headers (Milvus's layout). With fencing the writer adds the stamp
 * header to the last record of each transaction.
 */
export function toOutRecord(message: MutableMessage): OutRecord {
  const headers: RecordHeader[] = [];
  const properties = message.properties;
  for (const key in properties) headers.push([key, Buffer.from(properties[key]!, 'utf8')]);
  const payload = message.payload;
  return {
    value: Buffer.isBuffer(payload)
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    headers,
  };
}

export function openMarker(stamp: Buffer): OutRecord {
  return {
    value: Buffer.alloc(0),
    headers: [
      [STAMP_HEADER, stamp],
      [OPEN_HEADER, Buffer.alloc(0)],
    ],
  };
}

export function toImmutable(record: InRecord): ImmutableMessage {
  const properties: Record<string, string> = {};
  for (const [key, value] of record.headers) {
    if (key === STAMP_HEADER || key === OPEN_HEADER) continue;
    properties[key] = value.toString('utf8');
  }
  return new ImmutableMessage(new KafkaMessageId(record.offset), record.value, properties);
}

/** Kafka's record-batch header is 61 bytes; a record adds up to ~21 bytes of varints besides its fields. */
export const BATCH_OVERHEAD = 61;

/** A conservative estimate of the bytes the stamp header adds to the record that carries it. */
export function stampBytes(stamp: Buffer): number {
  return 10 + Buffer.byteLength(STAMP_HEADER) + stamp.byteLength;
}

/** A conservative estimate of the bytes `record` takes inside a record batch. */
export function estimateRecordBytes(record: OutRecord): number {
  let size = 21 + record.value.byteLength;
  for (const [key, value] of record.headers) size += 10 + Buffer.byteLength(key) + value.byteLength;
  return size;
}
