import type { MutableMessage } from '@walstream/core';
import { crc32c } from './crc32c.js';

/**
 * One record of a segment file, little-endian:
 *
 * ```text
 *   u32 bodyLength   bytes of the body below
 *   u32 crc          CRC-32C of the body
 *   body:
 *     u64 offset     the record's offset (its MessageID), so a record found out of place is noticed
 *     u32 count      number of properties
 *     count × (u32 keyLength, key UTF-8, u32 valueLength, value UTF-8)
 *     payload        the rest of the body
 * ```
 *
 * A record is written whole in one write call with the others of its batch; recovery tells a torn one by
 * its length running past the end of the file or by its CRC.
 */
export const RECORD_HEADER_BYTES = 8;
/** offset (8) + property count (4). */
export const BODY_FIXED_BYTES = 12;
export const MIN_RECORD_BYTES = RECORD_HEADER_BYTES + BODY_FIXED_BYTES;

/** A record encoded at append time, waiting for its offset (set by the writer, which then seals the CRC). */
export interface PendingRecord {
  readonly bytes: Buffer;
}

interface WellFormed {
  isWellFormed?(): boolean;
}

/**
 * Encodes `message` with room for the offset and CRC ({@link sealRecord} fills them). Returns a string
 * naming the first property that is not well-formed UTF-16 (a lone surrogate cannot round-trip through
 * UTF-8), or the record.
 */
export function encodeRecord(message: MutableMessage): Buffer | { readonly badProperty: string } {
  const properties = message.properties;
  const payload = message.payload;
  const keys = Object.keys(properties);
  let size = RECORD_HEADER_BYTES + BODY_FIXED_BYTES + payload.byteLength;
  const lengths = new Array<number>(keys.length * 2);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = properties[key]!;
    if ((key as WellFormed).isWellFormed?.() === false || (value as WellFormed).isWellFormed?.() === false) {
      return { badProperty: key };
    }
    const keyBytes = Buffer.byteLength(key, 'utf8');
    const valueBytes = Buffer.byteLength(value, 'utf8');
    lengths[2 * i] = keyBytes;
    lengths[2 * i + 1] = valueBytes;
    size += 8 + keyBytes + valueBytes;
  }
  const bytes = Buffer.allocUnsafe(size);
  bytes.writeUInt32LE(size - RECORD_HEADER_BYTES, 0);
  bytes.writeUInt32LE(keys.length, RECORD_HEADER_BYTES + 8);
  let at = RECORD_HEADER_BYTES + BODY_FIXED_BYTES;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    bytes.writeUInt32LE(lengths[2 * i]!, at);
    at += 4;
    at += bytes.write(key, at, 'utf8');
    bytes.writeUInt32LE(lengths[2 * i + 1]!, at);
    at += 4;
    at += bytes.write(properties[key]!, at, 'utf8');
  }
  bytes.set(payload, at);
  return bytes;
}

/** Writes the record's offset and then its CRC: the record is ready to go to disk. */
export function sealRecord(bytes: Buffer, offset: number): void {
  writeU64(bytes, RECORD_HEADER_BYTES, offset);
  bytes.writeUInt32LE(crc32c(bytes, RECORD_HEADER_BYTES, bytes.length), 4);
}

/** What {@link readFrame} found at a position. */
export type Frame =
  /** A whole record with a good CRC: its body is `[bodyStart, end)`. */
  | { readonly kind: 'record'; readonly offset: number; readonly bodyStart: number; readonly end: number }
  /** Fewer bytes than the record needs (read more, or: the file ends inside it). */
  | { readonly kind: 'short'; readonly need: number }
  /** Not a record: a length that cannot be, or a CRC that does not match. */
  | { readonly kind: 'bad'; readonly reason: string };

/**
 * The record at `bytes[at, limit)`. `maxBodyBytes` bounds the length field, so garbage is not taken for
 * a huge record that is merely "short".
 */
export function readFrame(bytes: Buffer, at: number, limit: number, maxBodyBytes: number): Frame {
  if (limit - at < RECORD_HEADER_BYTES) return { kind: 'short', need: RECORD_HEADER_BYTES };
  const bodyLength = bytes.readUInt32LE(at);
  if (bodyLength < BODY_FIXED_BYTES || bodyLength > maxBodyBytes) {
    return { kind: 'bad', reason: `record length ${bodyLength} is impossible` };
  }
  const end = at + RECORD_HEADER_BYTES + bodyLength;
  if (end > limit) return { kind: 'short', need: RECORD_HEADER_BYTES + bodyLength };
  const bodyStart = at + RECORD_HEADER_BYTES;
  const stored = bytes.readUInt32LE(at + 4);
  const actual = crc32c(bytes, bodyStart, end);
  if (stored !== actual) {
    return {
      kind: 'bad',
      reason: `CRC-32C mismatch (stored ${hex(stored)}, computed ${hex(actual)})`,
    };
  }
  return { kind: 'record', offset: readU64(bytes, bodyStart), bodyStart, end };
}

/**
 * The properties and payload of a record {@link readFrame} accepted (frozen properties; the payload is a
 * copy), or undefined when the body's structure does not add up.
 */
export function decodeBody(
  bytes: Buffer,
  bodyStart: number,
  end: number,
): { readonly properties: Readonly<Record<string, string>>; readonly payload: Uint8Array } | undefined {
  const count = bytes.readUInt32LE(bodyStart + 8);
  const properties: Record<string, string> = {};
  let at = bodyStart + BODY_FIXED_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + 4 > end) return undefined;
    const keyEnd = at + 4 + bytes.readUInt32LE(at);
    if (keyEnd + 4 > end) return undefined;
    const valueEnd = keyEnd + 4 + bytes.readUInt32LE(keyEnd);
    if (valueEnd > end) return undefined;
    const key = bytes.toString('utf8', at + 4, keyEnd);
    const value = bytes.toString('utf8', keyEnd + 4, valueEnd);
    // `__proto__` is a key like any other here: define it, an assignment would set the prototype.
    if (key === '__proto__') Object.defineProperty(properties, key, { value, enumerable: true });
    else properties[key] = value;
    at = valueEnd;
  }
  const payload = new Uint8Array(end - at);
  payload.set(bytes.subarray(at, end));
  // Frozen here, so the message keeps this object instead of copying it.
  return { properties: Object.freeze(properties), payload };
}

export function writeU64(bytes: Buffer, at: number, value: number): void {
  bytes.writeUInt32LE(value % 0x1_0000_0000, at);
  bytes.writeUInt32LE(Math.floor(value / 0x1_0000_0000), at + 4);
}

export function readU64(bytes: Buffer, at: number): number {
  return bytes.readUInt32LE(at) + bytes.readUInt32LE(at + 4) * 0x1_0000_0000;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
