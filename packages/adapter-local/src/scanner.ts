import type { FileHandle } from 'node:fs/promises';
import { ImmutableMessage } from '@walstream/core';
import { createRawScanner, type RawScanner, type ScannerSink } from '@walstream/core/spi';
import { errors } from './errors.js';
import { decodeBody, RECORD_HEADER_BYTES, readFrame } from './format/record.js';
import { LocalMessageId } from './message-id.js';
import type { ChannelLog } from './store/channel-log.js';
import { isErrnoCode } from './store/fs.js';
import type { Segment } from './store/segment.js';

/** Bytes one read call brings in (more when a single record is larger). */
const CHUNK_BYTES = 256 * 1024;

export interface LocalScannerSpec {
  readonly name: string;
  /** The offset of the first record to deliver; may lie below the retained range or beyond its end. */
  readonly start: number;
  readonly readAheadBufferSize?: number;
  /** Runs once after the fetch loop finished. */
  readonly release: () => void;
}

/**
 * A reader of one pchannel: core's bounded read-ahead buffer around a loop that reads the segment files
 * in chunks, checks every record's CRC and offset, and decodes one record at a time into the buffer —
 * so a slow consumer stops the reading. At the end of the log it parks on the log's wake-up list until
 * the next append is published (no polling).
 */
export function createLocalScanner(log: ChannelLog, spec: LocalScannerSpec): RawScanner {
  return createRawScanner({
    name: spec.name,
    ...(spec.readAheadBufferSize === undefined ? {} : { readAheadBufferSize: spec.readAheadBufferSize }),
    fetch: (sink, signal) => new Fetcher(log, spec.start).run(sink, signal),
    release: spec.release,
  });
}

/** Where the reader is: a segment it holds, the byte position of the next record, and its offset. */
interface Cursor {
  readonly segment: Segment;
  readonly handle: FileHandle;
  position: number;
  offset: number;
}

/** The next chunk, already on its way while the current one is parsed. */
interface Prefetch {
  readonly cursor: Cursor;
  readonly position: number;
  readonly length: number;
  readonly buffer: Buffer;
  /** Bytes read, or -1 when the read failed (the chunk is then read again, and fails in the open). */
  readonly read: Promise<number>;
}

class Fetcher {
  readonly #log: ChannelLog;
  #offset: number;
  #cursor: Cursor | undefined;
  #buffer: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  /** The second buffer, which the prefetch reads into. */
  #spare: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  #prefetch: Prefetch | undefined;

  constructor(log: ChannelLog, start: number) {
    this.#log = log;
    this.#offset = start;
  }

  async run(sink: ScannerSink, signal: AbortSignal): Promise<void> {
    const log = this.#log;
    try {
      while (!signal.aborted) {
        // Records truncated under a reader are gone: it continues at the first retained one.
        if (this.#offset < log.firstOffset) this.#offset = log.firstOffset;
        if (this.#offset >= log.nextOffset) {
          if (log.closed) throw errors.closed('read', log.name);
          if (log.failure !== undefined) throw errors.failed('read', log.name, log.failure);
          await log.waitForAppend(signal);
          continue;
        }
        const cursor = await this.#seek(signal);
        if (cursor === undefined) continue;
        if (!(await this.#readChunk(cursor, sink, signal))) return;
      }
    } finally {
      await this.#prefetch?.read;
      this.#prefetch = undefined;
      this.#drop();
    }
  }

  /** A cursor at `#offset`: the current one when it is there, else the segment holding it, via its index. */
  async #seek(signal: AbortSignal): Promise<Cursor | undefined> {
    const current = this.#cursor;
    if (current && !current.segment.deleted && current.offset === this.#offset) {
      if (this.#offset < current.segment.end || current.position < current.segment.size) return current;
    }
    this.#drop();
    const segment = this.#log.segmentOf(this.#offset);
    if (segment === undefined) return undefined; // truncated or not yet published: look again
    let handle: FileHandle;
    try {
      handle = await segment.acquireReader();
    } catch (error) {
      segment.releaseReader();
      // Deleted by a truncation between the lookup and the open: look again from the new start.
      if (isErrnoCode(error, 'ENOENT') && segment.deleted) return undefined;
      throw error;
    }
    if (signal.aborted) {
      segment.releaseReader();
      return undefined;
    }
    const { offset, position } = segment.seek(this.#offset);
    this.#cursor = { segment, handle, position, offset };
    return this.#cursor;
  }

  /**
   * Reads the records from the cursor to at most a chunk's end, delivering those at or after `#offset`.
   * False when the scanner was closed meanwhile.
   */
  async #readChunk(cursor: Cursor, sink: ScannerSink, signal: AbortSignal): Promise<boolean> {
    const log = this.#log;
    const segment = cursor.segment;
    const limit = segment.size; // published bytes: whole records only
    const chunkStart = cursor.position;
    let want = Math.min(this.#buffer.length, limit - chunkStart);
    let bytesRead: number;
    const prefetched = await this.#prefetched(cursor, chunkStart);
    if (prefetched) ({ want, bytesRead } = prefetched);
    else bytesRead = (await cursor.handle.read(this.#buffer, 0, want, chunkStart)).bytesRead;
    const buffer = this.#buffer;
    if (bytesRead < want) {
      throw errors.corrupt(
        segment.path,
        chunkStart + bytesRead,
        'the file is shorter than what was written to it',
        log.name,
      );
    }
    this.#prefetchAfter(cursor, buffer, bytesRead, limit);
    const maxBody = log.options.maxRecordBytes - RECORD_HEADER_BYTES;
    let at = 0;
    while (at < bytesRead) {
      const frame = readFrame(buffer, at, bytesRead, maxBody);
      if (frame.kind === 'short') {
        if (chunkStart + at + frame.need > limit) {
          throw errors.corrupt(
            segment.path,
            chunkStart + at,
            'a record runs past what was written',
            log.name,
          );
        }
        // A record larger than the buffer: make room for it, and read again from its start.
        if (at === 0) this.#buffer = Buffer.allocUnsafe(frame.need);
        break;
      }
      if (frame.kind === 'bad') throw errors.corrupt(segment.path, chunkStart + at, frame.reason, log.name);
      const offset = cursor.offset;
      if (frame.offset !== offset) {
        throw errors.corrupt(
          segment.path,
          chunkStart + at,
          `record offset ${frame.offset} where ${offset} was due`,
          log.name,
        );
      }
      const position = chunkStart + at;
      cursor.offset = offset + 1;
      cursor.position = chunkStart + frame.end;
      at = frame.end;
      if (offset < this.#offset) continue; // between the index entry and where the reader starts
      if (offset < log.firstOffset) {
        // Truncated while the reader waited for room: continue at the first retained record.
        this.#offset = log.firstOffset;
        return true;
      }
      const body = decodeBody(buffer, frame.bodyStart, frame.end);
      if (body === undefined)
        throw errors.corrupt(segment.path, position, 'the record body does not add up', log.name);
      const message = new ImmutableMessage(new LocalMessageId(offset), body.payload, body.properties);
      log.fetched++;
      this.#offset = offset + 1;
      if (!sink.tryPush(message) && !(await sink.push(message))) return false;
      if (signal.aborted) return false;
    }
    return true;
  }

  /**
   * The prefetched chunk if it starts where the reader is now (its buffer becomes the current one). A
   * prefetch for another place (the reader jumped: a truncation, a new segment) is waited for and dropped.
   */
  async #prefetched(
    cursor: Cursor,
    position: number,
  ): Promise<{ want: number; bytesRead: number } | undefined> {
    const prefetch = this.#prefetch;
    if (!prefetch) return undefined;
    this.#prefetch = undefined;
    const bytesRead = await prefetch.read;
    if (prefetch.cursor !== cursor || prefetch.position !== position || bytesRead < 0) return undefined;
    this.#spare = this.#buffer;
    this.#buffer = prefetch.buffer;
    return { want: prefetch.length, bytesRead };
  }

  /**
   * Starts reading the chunk after the last whole record of `buffer` (found by its length fields alone),
   * so the disk works while this chunk's records are checked and decoded.
   */
  #prefetchAfter(cursor: Cursor, buffer: Buffer, bytesRead: number, limit: number): void {
    let at = 0;
    while (at + RECORD_HEADER_BYTES <= bytesRead) {
      const end = at + RECORD_HEADER_BYTES + buffer.readUInt32LE(at);
      if (end > bytesRead) break;
      at = end;
    }
    const position = cursor.position + at;
    if (at === 0 || position >= limit) return;
    const spare = this.#spare;
    const length = Math.min(spare.length, limit - position);
    this.#prefetch = {
      cursor,
      position,
      length,
      buffer: spare,
      read: cursor.handle.read(spare, 0, length, position).then(
        (result) => result.bytesRead,
        () => -1,
      ),
    };
  }

  #drop(): void {
    if (this.#cursor) this.#cursor.segment.releaseReader();
    this.#cursor = undefined;
  }
}
