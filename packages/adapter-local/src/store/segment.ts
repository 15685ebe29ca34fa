import { type FileHandle, open } from 'node:fs/promises';

/**
 * One segment file as the process knows it: where its records start and how far they are published
 * (durable and visible to readers), and its sparse index — (offset - base, byte position) pairs, one per
 * `indexIntervalBytes` of records — to find a record without reading the segment from its start.
 *
 * Readers share one read-only file handle per segment, opened on first use. Truncation marks the segment
 * deleted and unlinks its files; the handle closes when the last reader lets go (on POSIX systems an
 * unlinked file stays readable through an open handle, so a reader in it never sees half a segment).
 */
export class Segment {
  readonly base: number;
  readonly path: string;
  readonly indexPath: string;
  readonly headerLength: number;
  /** Published bytes, header included: every byte below is a whole record readers may see. */
  size: number;
  /** Published records. */
  records: number;
  sealed = false;
  deleted = false;
  readonly #entries: number[];
  readonly #interval: number;
  #lastIndexed: number;
  #handle: Promise<FileHandle> | undefined;
  #users = 0;

  constructor(spec: {
    base: number;
    path: string;
    indexPath: string;
    headerLength: number;
    size: number;
    records: number;
    entries: number[];
    indexIntervalBytes: number;
  }) {
    this.base = spec.base;
    this.path = spec.path;
    this.indexPath = spec.indexPath;
    this.headerLength = spec.headerLength;
    this.size = spec.size;
    this.records = spec.records;
    this.#entries = spec.entries;
    this.#interval = spec.indexIntervalBytes;
    this.#lastIndexed = spec.entries.length > 0 ? spec.entries[spec.entries.length - 1]! : -Infinity;
  }

  /** The offset after the last published record. */
  get end(): number {
    return this.base + this.records;
  }

  get entries(): readonly number[] {
    return this.#entries;
  }

  /** Notes a record written at `position` (an index entry when it starts a new interval). */
  noteRecord(offset: number, position: number): void {
    if (position - this.#lastIndexed >= this.#interval) {
      this.#entries.push(offset - this.base, position);
      this.#lastIndexed = position;
    }
  }

  /** The indexed record nearest at or before `offset`: where a reader of `offset` starts parsing. */
  seek(offset: number): { readonly offset: number; readonly position: number } {
    const entries = this.#entries;
    const relative = offset - this.base;
    let lo = 0;
    let hi = entries.length / 2 - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid * 2]! <= relative) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return { offset: this.base, position: this.headerLength };
    return { offset: this.base + entries[found * 2]!, position: entries[found * 2 + 1]! };
  }

  /** No more records come: the last reader to let go closes the read handle. */
  seal(): void {
    this.sealed = true;
    if (this.#users === 0) void this.closeReader();
  }

  /** Truncated away: readers move on; the read handle closes once the last one let go. */
  markDeleted(): void {
    this.deleted = true;
    if (this.#users === 0) void this.closeReader();
  }

  /** A read handle shared by this segment's readers; give it back with {@link releaseReader}. */
  acquireReader(): Promise<FileHandle> {
    this.#users++;
    if (!this.#handle) {
      const opening = open(this.path, 'r');
      this.#handle = opening;
      // A failed open is not kept: the next reader tries again (or finds the segment deleted).
      opening.catch(() => {
        if (this.#handle === opening) this.#handle = undefined;
      });
    }
    return this.#handle;
  }

  /**
   * Gives a handle back. The last reader of a sealed or deleted segment closes it: a log of many segments
   * does not keep a descriptor open for each one ever read. The active segment's stays for its tailers.
   */
  releaseReader(): void {
    this.#users--;
    if (this.#users === 0 && (this.deleted || this.sealed)) void this.closeReader();
  }

  /** Closes the shared read handle (at log close, or once a deleted segment has no reader left). */
  async closeReader(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle) await (await handle.catch(() => undefined))?.close();
  }
}
