import { crc32 } from 'node:zlib';
import { ImmutableMessage, type MutableMessage } from '@walstream/core';
import type { InRecord, OutRecord, RecordHeader } from './driver/types.js';
import { KafkaMessageId } from './message-id.js';

/**
 * The adapter's own header, on the last record of every transaction it commits (and on its open marker;
 * earlier versions put it on every record). The last committed record of a pchannel thus tells which
 * term (and which writer of that term) wrote last: the fencing check reads it.
 *
 * Its value is `ws1.<term base-36>.<writer id>.<crc32 hex>`: a magic and format version, and a CRC-32 of
 * everything before it, so a value some other writer happens to put under this key cannot pass for a
 * stamp by accident (and so cannot fence the pchannel's owner). A value that does not verify is never
 * taken as a stamp; readers report it (see {@link inspectControl}).
 * Never shown to readers as a property (user keys cannot start with `_`, so it cannot collide).
 */
export const STAMP_HEADER = '__ws';
/** Marks the record a writer appends when it takes over a pchannel: it carries only the stamp. */
export const OPEN_HEADER = '__ws.open';
const STAMP_MAGIC = 'ws1.';

export interface Stamp {
  readonly term: bigint;
  readonly writer: string;
}

function checksum(text: string): string {
  return crc32(Buffer.from(text, 'utf8')).toString(16).padStart(8, '0');
}

export function encodeStamp(stamp: Stamp): Buffer {
  const body = `${STAMP_MAGIC}${stamp.term.toString(36)}.${stamp.writer}`;
  return Buffer.from(`${body}.${checksum(body)}`);
}

/** The stamp a header value holds, or undefined when it is not one (wrong magic, version or checksum). */
export function decodeStamp(value: Buffer): Stamp | undefined {
  const text = value.toString('utf8');
  if (!text.startsWith(STAMP_MAGIC)) return undefined;
  const sum = text.lastIndexOf('.');
  if (sum <= STAMP_MAGIC.length || text.length - sum !== 9) return undefined;
  const body = text.slice(0, sum);
  if (checksum(body) !== text.slice(sum + 1)) return undefined;
  const dot = body.indexOf('.', STAMP_MAGIC.length);
  if (dot <= STAMP_MAGIC.length) return undefined;
  const digits = body.slice(STAMP_MAGIC.length, dot);
  if (!/^[0-9a-z]{1,26}$/.test(digits)) return undefined;
  let term = 0n;
  for (const char of digits) term = term * 36n + BigInt(Number.parseInt(char, 36));
  return { term, writer: body.slice(dot + 1) };
}

/** The verified stamp of a record, if it carries one. */
export function stampOf(record: InRecord): Stamp | undefined {
  for (const [key, value] of record.headers) if (key === STAMP_HEADER) return decodeStamp(value);
  return undefined;
}

/**
 * What a record is to a reader: data, walstream's own open marker (not a message), or a record that
 * carries walstream's reserved headers with content that does not verify (`why`): such a record is never
 * a marker nor a fence; readers deliver it as data (for the stack's foreign-records policy) and report it.
 */
export type ControlKind =
  | { readonly kind: 'data' }
  | { readonly kind: 'marker' }
  | { readonly kind: 'unexpected'; readonly why: string };

const DATA: ControlKind = { kind: 'data' };
const MARKER: ControlKind = { kind: 'marker' };

export function inspectControl(record: InRecord): ControlKind {
  let stamp: Buffer | undefined;
  let open = false;
  for (const [key, value] of record.headers) {
    if (key === STAMP_HEADER) stamp = value;
    else if (key === OPEN_HEADER) open = true;
  }
  if (stamp === undefined) {
    return open
      ? { kind: 'unexpected', why: `an ${OPEN_HEADER} header without a ${STAMP_HEADER} stamp` }
      : DATA;
  }
  if (!decodeStamp(stamp)) {
    return {
      kind: 'unexpected',
      why: `a ${STAMP_HEADER} header that is not a walstream stamp (magic, version or checksum)`,
    };
  }
  if (open && record.value.length > 0) {
    return { kind: 'unexpected', why: `an ${OPEN_HEADER} record with a value (open markers have none)` };
  }
  return open ? MARKER : DATA;
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
