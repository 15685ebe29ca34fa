import type { FileHandle } from 'node:fs/promises';
import { MIN_RECORD_BYTES, RECORD_HEADER_BYTES, readFrame, readU64 } from '../format/record.js';

const CHUNK_BYTES = 1 << 20;

/** What a full pass over a segment's records found. */
export interface ScanResult {
  readonly records: number;
  /** Sparse index pairs (offset - base, position), one per `indexIntervalBytes`. */
  readonly entries: number[];
  /** The position after the last good record. */
  readonly end: number;
  /** Why the pass stopped before the end of the file, if it did. */
  readonly stop?: { readonly position: number; readonly reason: string; readonly torn: boolean };
}

export interface ScanSpec {
  /** Where the records start (the header's length). */
  readonly from: number;
  readonly size: number;
  readonly base: number;
  readonly maxBodyBytes: number;
  readonly indexIntervalBytes: number;
}

/**
 * Reads every record of a segment from `from` to `size`, checking each one's CRC and that its offset is
 * the next one. Stops at the first record that is not whole and good; `stop.torn` says whether it merely
 * ran past the end of the file (a write cut short) rather than being damaged.
 */
export async function scanRecords(handle: FileHandle, spec: ScanSpec): Promise<ScanResult> {
  let buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(spec.size - spec.from, MIN_RECORD_BYTES)));
  const entries: number[] = [];
  let lastIndexed = -Infinity;
  let records = 0;
  let position = spec.from;
  while (position < spec.size) {
    const want = Math.min(buffer.length, spec.size - position);
    const { bytesRead } = await handle.read(buffer, 0, want, position);
    let at = 0;
    for (;;) {
      const frame = readFrame(buffer, at, bytesRead, spec.maxBodyBytes);
      if (frame.kind === 'short') {
        if (position + at + frame.need > spec.size || bytesRead < want) {
          return { records, entries, end: position + at, stop: stopAt(position + at, frame.need, spec.size) };
        }
        // The record goes on past this chunk: read again from its start, with room for all of it.
        if (frame.need > buffer.length) buffer = Buffer.allocUnsafe(frame.need);
        break;
      }
      if (frame.kind === 'bad')
        return {
          records,
          entries,
          end: position + at,
          stop: { position: position + at, reason: frame.reason, torn: false },
        };
      const expected = spec.base + records;
      if (frame.offset !== expected) {
        return {
          records,
          entries,
          end: position + at,
          stop: {
            position: position + at,
            reason: `record offset ${frame.offset} where ${expected} was due`,
            torn: false,
          },
        };
      }
      if (position + at - lastIndexed >= spec.indexIntervalBytes) {
        entries.push(records, position + at);
        lastIndexed = position + at;
      }
      records++;
      at = frame.end;
      if (at >= bytesRead) break;
    }
    position += at;
  }
  return { records, entries, end: position };
}

function stopAt(position: number, need: number, size: number): ScanResult['stop'] {
  return {
    position,
    reason: `a record of ${need} bytes runs past the end of the file (${size - position} bytes left)`,
    torn: true,
  };
}

/**
 * The position of the first whole, good record in `[from, size)` whose offset is `expected` or later,
 * looking at every byte position: used after a damaged record, to tell a damaged tail (nothing good after
 * it: safe to cut) from damage in the middle (good records after it: never cut). A candidate must have a
 * possible length and offset before its CRC is computed, so garbage and zeros are passed over quickly.
 */
export async function findRecordAfter(
  handle: FileHandle,
  spec: {
    readonly from: number;
    readonly size: number;
    readonly expected: number;
    readonly maxBodyBytes: number;
  },
): Promise<number | undefined> {
  const length = spec.size - spec.from;
  if (length < MIN_RECORD_BYTES) return undefined;
  const bytes = Buffer.allocUnsafe(length);
  const { bytesRead } = await handle.read(bytes, 0, length, spec.from);
  const highest = spec.expected + Math.floor(bytesRead / MIN_RECORD_BYTES);
  for (let at = 0; at + MIN_RECORD_BYTES <= bytesRead; at++) {
    const bodyLength = bytes.readUInt32LE(at);
    if (
      bodyLength < MIN_RECORD_BYTES - RECORD_HEADER_BYTES ||
      at + RECORD_HEADER_BYTES + bodyLength > bytesRead
    )
      continue;
    const offset = readU64(bytes, at + RECORD_HEADER_BYTES);
    if (offset < spec.expected || offset > highest) continue;
    if (readFrame(bytes, at, bytesRead, spec.maxBodyBytes).kind === 'record') return spec.from + at;
  }
  return undefined;
}
