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

/**
 * The UTF-8 length of `text`, or -1 when it holds a lone surrogate (which cannot round-trip through
 * UTF-8). One pass over the code units: property keys and values are short, and this costs less than
 * asking the engine twice.
 */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (unit > 0xdbff || next < 0xdc00 || next > 0xdfff) return -1;
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** Writes `text` (of `length` UTF-8 bytes) at `at`; ASCII byte by byte, which beats the encoder for short strings. */
function writeText(bytes: Buffer, text: string, at: number, length: number): void {
  if (length === text.length) {
    for (let i = 0; i < length; i++) bytes[at + i] = text.charCodeAt(i);
  } else {
    bytes.write(text, at, length, 'utf8');
  }
}

/**
 * Encodes `message` with room for the offset and CRC ({@link sealRecord} fills them), into bytes from
 * `allocate` (default: a buffer of its own). Returns the record, or the name of the first property that
 * is not well-formed UTF-16 (a lone surrogate cannot round-trip through UTF-8).
 */
export function encodeRecord(
  message: MutableMessage,
  allocate: (size: number) => Buffer = Buffer.allocUnsafe,
): Buffer | { readonly badProperty: string } {
  const properties = message.properties;
  const payload = message.payload;
  let size = RECORD_HEADER_BYTES + BODY_FIXED_BYTES + payload.byteLength;
  let count = 0;
  for (const key in properties) {
    const keyBytes = utf8Length(key);
    const valueBytes = utf8Length(properties[key]!);
    if (keyBytes < 0 || valueBytes < 0) return { badProperty: key };
    size += 8 + keyBytes + valueBytes;
    count++;
  }
  const bytes = allocate(size);
  bytes.writeUInt32LE(size - RECORD_HEADER_BYTES, 0);
  bytes.writeUInt32LE(count, RECORD_HEADER_BYTES + 8);
  let at = RECORD_HEADER_BYTES + BODY_FIXED_BYTES;
  for (const key in properties) {
    const value = properties[key]!;
    const keyBytes = utf8Length(key);
    const valueBytes = utf8Length(value);
    bytes.writeUInt32LE(keyBytes, at);
    writeText(bytes, key, at + 4, keyBytes);
    at += 4 + keyBytes;
    bytes.writeUInt32LE(valueBytes, at);
    writeText(bytes, value, at + 4, valueBytes);
    at += 4 + valueBytes;
  }
  bytes.set(payload, at);
  return bytes;
}

/**
 * Hands out consecutive slices of large buffers, so records encoded one after another lie next to each
 * other in memory and a batch of them goes to the disk with one plain write (no gather list to build).
 * A record larger than a quarter of a slab gets a buffer of its own.
 */
export class RecordArena {
  readonly #slabBytes: number;
  #slab: Buffer;
  #used = 0;

  constructor(slabBytes = 1 << 20) {
    this.#slabBytes = slabBytes;
    this.#slab = Buffer.allocUnsafeSlow(slabBytes);
  }

  readonly allocate = (size: number): Buffer => {
    if (size > this.#slabBytes >> 2) return Buffer.allocUnsafeSlow(size);
    if (this.#used + size > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(this.#slabBytes);
      this.#used = 0;
    }
    const view = this.#slab.subarray(this.#used, this.#used + size);
    this.#used += size;
    return view;
  };
}

/**
 * `buffers` merged where one ends exactly where the next begins in the same memory: the fewest pieces
 * to hand to one write call.
 */
export function contiguousRuns(buffers: readonly Buffer[]): Buffer[] {
  const runs: Buffer[] = [];
  let start = 0;
  for (let i = 1; i <= buffers.length; i++) {
    const before = buffers[i - 1]!;
    const next = buffers[i];
    if (next && next.buffer === before.buffer && next.byteOffset === before.byteOffset + before.length)
      continue;
    const first = buffers[start]!;
    runs.push(
      i - 1 === start
        ? first
        : Buffer.from(first.buffer, first.byteOffset, before.byteOffset + before.length - first.byteOffset),
    );
    start = i;
  }
  return runs;
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
    const key = readText(bytes, at + 4, keyEnd);
    const value = readText(bytes, keyEnd + 4, valueEnd);
    // `__proto__` is a key like any other here: define it, an assignment would set the prototype.
    if (key === '__proto__') Object.defineProperty(properties, key, { value, enumerable: true });
    else properties[key] = value;
    at = valueEnd;
  }
  const payload = new Uint8Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + end));
  // Frozen here, so the message keeps this object instead of copying it.
  return { properties: Object.freeze(properties), payload };
}

/** The UTF-8 text at `bytes[start, end)`; short ASCII (most property keys and values) without the decoder. */
function readText(bytes: Buffer, start: number, end: number): string {
  if (end - start > 64) return bytes.toString('utf8', start, end);
  let text = '';
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x80) return bytes.toString('utf8', start, end);
    text += String.fromCharCode(byte);
  }
  return text;
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
