import { crc32c } from './crc32c.js';
import { readU64, writeU64 } from './record.js';

/**
 * Segment and index files. A pchannel directory holds `<base>.log` segments (a header, then records) and
 * `<base>.idx` sparse indexes of sealed segments, where `<base>` is the offset of the segment's first
 * record as 20 decimal digits, so names sort in offset order.
 *
 * Segment header, little-endian:
 *
 * ```text
 *   8 bytes  magic "WSLOGSEG"
 *   u16      format version (2)
 *   u16      header length, this field to the CRC included
 *   u32      flags (0)
 *   u16      pchannel name length, then the name (UTF-8)
 *   u32      CRC-32C of everything before it
 * ```
 *
 * The base offset is in the file name and in every record, not in the header: so the next segment can be
 * made — header written and synced, name durable — before anyone knows where it will start (see
 * `NEXT_SEGMENT_FILE`).
 */
/** Of `meta.json` and the sparse indexes. */
export const FORMAT_VERSION = 1;
/** Of segment headers (2: the base offset left the header). */
export const SEGMENT_FORMAT_VERSION = 2;
const SEGMENT_MAGIC = Buffer.from('WSLOGSEG', 'latin1');
const INDEX_MAGIC = Buffer.from('WSLOGIDX', 'latin1');
const SEGMENT_FIXED = 18;

/** The segment made ahead of the roll that will need it; renamed to `<base>.log` when it takes its first batch. */
export const NEXT_SEGMENT_FILE = 'next.log';

export const SEGMENT_SUFFIX = '.log';
export const INDEX_SUFFIX = '.idx';
const NAME_DIGITS = 20;
const NAME_PATTERN = /^(\d{20})\.(log|idx)$/;

export function segmentFileName(base: number): string {
  return `${String(base).padStart(NAME_DIGITS, '0')}${SEGMENT_SUFFIX}`;
}

export function indexFileName(base: number): string {
  return `${String(base).padStart(NAME_DIGITS, '0')}${INDEX_SUFFIX}`;
}

/** The base offset and kind of a file name of a pchannel directory, or undefined for other files. */
export function parseFileName(name: string): { base: number; kind: 'log' | 'idx' } | undefined {
  const match = NAME_PATTERN.exec(name);
  if (!match) return undefined;
  const base = Number(match[1]);
  if (!Number.isSafeInteger(base)) return undefined;
  return { base, kind: match[2] as 'log' | 'idx' };
}

export function encodeSegmentHeader(pchannel: string): Buffer {
  const nameBytes = Buffer.byteLength(pchannel, 'utf8');
  const length = SEGMENT_FIXED + nameBytes + 4;
  const header = Buffer.alloc(length);
  SEGMENT_MAGIC.copy(header, 0);
  header.writeUInt16LE(SEGMENT_FORMAT_VERSION, 8);
  header.writeUInt16LE(length, 10);
  header.writeUInt32LE(0, 12);
  header.writeUInt16LE(nameBytes, 16);
  header.write(pchannel, SEGMENT_FIXED, 'utf8');
  header.writeUInt32LE(crc32c(header, 0, length - 4), length - 4);
  return header;
}

export type HeaderCheck =
  | { readonly ok: true; readonly length: number; readonly pchannel: string }
  /** `otherVersion`: a walstream segment of a format this adapter does not read — never to be cut. */
  | { readonly ok: false; readonly reason: string; readonly otherVersion?: boolean };

/** Checks the header at the start of `bytes` (which holds the first `size` bytes of the file). */
export function decodeSegmentHeader(bytes: Buffer, size: number): HeaderCheck {
  if (size < SEGMENT_FIXED) return { ok: false, reason: `file of ${size} bytes has no header` };
  if (!bytes.subarray(0, 8).equals(SEGMENT_MAGIC))
    return { ok: false, reason: 'not a walstream segment (bad magic)' };
  const version = bytes.readUInt16LE(8);
  if (version !== SEGMENT_FORMAT_VERSION) {
    return {
      ok: false,
      reason: `segment format version ${version}; this adapter reads ${SEGMENT_FORMAT_VERSION}`,
      otherVersion: true,
    };
  }
  const length = bytes.readUInt16LE(10);
  if (length < SEGMENT_FIXED + 4) return { ok: false, reason: `header length ${length} is impossible` };
  if (size < length) return { ok: false, reason: `file of ${size} bytes ends inside its header` };
  const stored = bytes.readUInt32LE(length - 4);
  if (stored !== crc32c(bytes, 0, length - 4)) return { ok: false, reason: 'header CRC-32C mismatch' };
  const nameBytes = bytes.readUInt16LE(16);
  if (SEGMENT_FIXED + nameBytes + 4 !== length) {
    return { ok: false, reason: 'header name length disagrees with header length' };
  }
  return { ok: true, length, pchannel: bytes.toString('utf8', SEGMENT_FIXED, SEGMENT_FIXED + nameBytes) };
}

/**
 * A sealed segment's sparse index, little-endian:
 *
 * ```text
 *   8 bytes  magic "WSLOGIDX"
 *   u16      format version (1), u16 reserved
 *   u32      entry count
 *   u64      base offset
 *   u64      records in the segment
 *   u64      segment size in bytes (header included)
 *   count × (u32 offset - base, u32 byte position)
 *   u32      CRC-32C of everything before it
 * ```
 */
export interface SparseIndexFile {
  readonly base: number;
  readonly records: number;
  readonly size: number;
  /** Pairs of (offset - base, position), ascending. */
  readonly entries: readonly number[];
}

const INDEX_FIXED = 40;

export function encodeIndex(index: SparseIndexFile): Buffer {
  const count = index.entries.length / 2;
  const bytes = Buffer.alloc(INDEX_FIXED + count * 8 + 4);
  INDEX_MAGIC.copy(bytes, 0);
  bytes.writeUInt16LE(FORMAT_VERSION, 8);
  bytes.writeUInt32LE(count, 12);
  writeU64(bytes, 16, index.base);
  writeU64(bytes, 24, index.records);
  writeU64(bytes, 32, index.size);
  for (let i = 0; i < index.entries.length; i++) bytes.writeUInt32LE(index.entries[i]!, INDEX_FIXED + i * 4);
  bytes.writeUInt32LE(crc32c(bytes, 0, bytes.length - 4), bytes.length - 4);
  return bytes;
}

/** The index in `bytes`, or undefined when it is damaged or of another version (it is rebuilt then). */
export function decodeIndex(bytes: Buffer): SparseIndexFile | undefined {
  if (bytes.length < INDEX_FIXED + 4 || !bytes.subarray(0, 8).equals(INDEX_MAGIC)) return undefined;
  if (bytes.readUInt16LE(8) !== FORMAT_VERSION) return undefined;
  const count = bytes.readUInt32LE(12);
  if (bytes.length !== INDEX_FIXED + count * 8 + 4) return undefined;
  if (bytes.readUInt32LE(bytes.length - 4) !== crc32c(bytes, 0, bytes.length - 4)) return undefined;
  const entries = new Array<number>(count * 2);
  for (let i = 0; i < count * 2; i++) entries[i] = bytes.readUInt32LE(INDEX_FIXED + i * 4);
  return { base: readU64(bytes, 16), records: readU64(bytes, 24), size: readU64(bytes, 32), entries };
}
