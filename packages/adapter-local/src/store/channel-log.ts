import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, WalError } from '@walstream/core';
import { abortError } from '@walstream/core/spi';
import { errors } from '../errors.js';
import { contiguousRuns, RECORD_HEADER_BYTES, RecordArena, readFrame, sealRecord } from '../format/record.js';
import {
  decodeIndex,
  decodeSegmentHeader,
  encodeIndex,
  encodeSegmentHeader,
  indexFileName,
  NEXT_SEGMENT_FILE,
  parseFileName,
  segmentFileName,
} from '../format/segment.js';
import type { ResolvedOptions } from '../options.js';
import { type ChannelMeta, readChannelMeta, writeChannelMeta } from './channel-meta.js';
import { isErrnoCode, syncDirectory } from './fs.js';
import type { LocalMetrics } from './metrics.js';
import { findRecordAfter, scanRecords } from './scan.js';
import { Segment } from './segment.js';

/** One append waiting for the writer; `resolve` and `reject` are called once, whichever comes first. */
export interface Pending {
  readonly bytes: Buffer;
  readonly term: bigint;
  /** In a batch being written: an abort can no longer take it back. */
  taken: boolean;
  /** Set by the log when it added a listener to the append's signal: removes it. */
  onSettled: (() => void) | undefined;
  resolve(offset: number): void;
  reject(error: WalError): void;
}

/** A batch written to its segment, waiting to be published. */
interface WrittenBatch {
  readonly segment: Segment;
  readonly batch: readonly Pending[];
  readonly buffers: readonly Buffer[];
  readonly first: number;
  readonly position: number;
  readonly bytes: number;
}

/** What opening a pchannel found on disk and repaired. */
export interface RecoveryReport {
  readonly segments: number;
  readonly records: number;
  /** The tail cut from the last segment, if it was torn or damaged. */
  readonly cut?: {
    readonly file: string;
    readonly position: number;
    readonly bytes: number;
    readonly reason: string;
  };
  /** Segment files removed: below the truncation point, or created and never written. */
  readonly removedFiles: readonly string[];
  /** Sparse indexes rebuilt by reading their segment (missing or damaged). */
  readonly rebuiltIndexes: number;
  readonly ms: number;
}

export interface ChannelLogDeps {
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  readonly metrics: LocalMetrics;
}

/**
 * One pchannel's log in this process, shared by every WAL opened on it: the segment list, the writer with
 * its group commit, the wake-up list of tailing readers, the term and the truncation point.
 *
 * Appends queue; one writer loop takes everything queued (up to `maxBatchBytes`, and never past a segment
 * roll), gives the records their offsets and writes them with one write call. With durability `fsync` a
 * syncer beside it runs one `fdatasync` after another, each covering every batch written before it
 * started, and then publishes those batches to readers and resolves their appends; the writer goes on
 * writing meanwhile. So a thousand appends in flight share a handful of fdatasyncs, and the disk and the
 * CPU work at the same time. Without `fsync` a batch is published as soon as it is written.
 */
export class ChannelLog {
  readonly name: string;
  readonly directory: string;
  readonly segments: Segment[];
  /** The first offset readers may see (the truncation point, or the first retained record). */
  firstOffset: number;
  /** The offset the next record gets; everything below is published. */
  nextOffset: number;
  highestTerm: bigint;
  /** Records readers took from this log (for the conformance suite's store probe). */
  fetched = 0;
  /** Where appends encode their records: side by side, so a batch is written in one piece. */
  readonly arena = new RecordArena();
  readonly recovery: RecoveryReport;
  readonly options: ResolvedOptions;
  readonly #logger: Logger;
  readonly #metrics: LocalMetrics;
  readonly #metricAttributes: { pchannel: string };
  #truncatedBefore: number;
  #writer: FileHandle | undefined;
  readonly #queue: Pending[] = [];
  #loop: Promise<void> | undefined;
  /** Written with durability `fsync` and waiting for the fdatasync that publishes them, oldest first. */
  readonly #unsynced: WrittenBatch[] = [];
  #syncer: Promise<void> | undefined;
  /** The next segment, made ahead of the roll that will need it (see #makeNext). */
  #next: { readonly handle: FileHandle; readonly headerLength: number } | undefined;
  #makingNext: Promise<void> | undefined;
  /** Writers of sealed segments, closing beside the writer (see #roll). */
  readonly #sealing = new Set<Promise<void>>();
  /** The offset the next written record gets (ahead of `nextOffset` while batches wait for their sync). */
  #nextToWrite: number;
  /** Bytes and records written to the active segment, published or not. */
  #writePosition = 0;
  #writtenRecords = 0;
  /** Bytes written since the last fdatasync (durability `interval` and `none`). */
  #dirty = false;
  #syncDue = false;
  #syncTimer: NodeJS.Timeout | undefined;
  #waiters = new Set<() => void>();
  #failure: unknown;
  #failureError: WalError | undefined;
  #closed = false;
  #metaChain: Promise<unknown> = Promise.resolve();
  #commits = 0;
  #appends = 0;

  private constructor(parts: {
    name: string;
    directory: string;
    segments: Segment[];
    meta: ChannelMeta;
    nextOffset: number;
    recovery: RecoveryReport;
    deps: ChannelLogDeps;
  }) {
    this.name = parts.name;
    this.directory = parts.directory;
    this.segments = parts.segments;
    this.nextOffset = parts.nextOffset;
    this.#nextToWrite = parts.nextOffset;
    this.#truncatedBefore = parts.meta.truncatedBefore;
    this.firstOffset = Math.max(parts.meta.truncatedBefore, parts.segments[0]?.base ?? parts.nextOffset);
    this.highestTerm = parts.meta.term;
    this.recovery = parts.recovery;
    this.options = parts.deps.options;
    this.#logger = parts.deps.logger;
    this.#metrics = parts.deps.metrics;
    this.#metricAttributes = { pchannel: parts.name };
    if (this.options.durability === 'interval') {
      this.#syncTimer = setInterval(() => {
        if (!this.#dirty) return;
        this.#syncDue = true;
        this.#kick();
      }, this.options.syncIntervalMs);
      this.#syncTimer.unref();
    }
  }

  /** Group commits so far: publications of written batches (with durability `fsync`, one per fdatasync). */
  get commits(): number {
    return this.#commits;
  }

  get appends(): number {
    return this.#appends;
  }

  /** The error that stopped the writer, if one did. */
  get failure(): unknown {
    return this.#failure;
  }

  /**
   * Opens the log in `directory`, creating it if needed, and recovers it: sealed segments are checked
   * against their indexes (rebuilt if missing), the last segment is read to its end and a torn or
   * damaged tail is cut — unless a good record follows the damage, which is UNRECOVERABLE.
   */
  static async open(name: string, directory: string, deps: ChannelLogDeps): Promise<ChannelLog> {
    const started = performance.now();
    await mkdir(directory, { recursive: true });
    let meta = await readChannelMeta(directory);
    if (meta === undefined) {
      meta = { pchannel: name, term: -1n, truncatedBefore: 0 };
      await writeChannelMeta(directory, meta);
    } else if (meta.pchannel !== name) {
      throw errors.corrupt(
        join(directory, 'meta.json'),
        0,
        `it belongs to pchannel ${JSON.stringify(meta.pchannel)}`,
        name,
      );
    }
    const recovered = await recover(name, directory, meta, deps);
    const log = new ChannelLog({
      name,
      directory,
      segments: recovered.segments,
      meta,
      nextOffset: recovered.nextOffset,
      recovery: { ...recovered.report, ms: performance.now() - started },
      deps,
    });
    const { cut } = log.recovery;
    if (cut) {
      deps.metrics.recoveryCuts.add(1, { pchannel: name });
      deps.metrics.recoveryCutBytes.add(cut.bytes, { pchannel: name });
      deps.logger.warn(
        { file: cut.file, position: cut.position, bytes: cut.bytes, reason: cut.reason },
        `local log recovery cut a torn tail of ${cut.bytes} bytes`,
      );
    }
    deps.logger.info(
      {
        segments: log.recovery.segments,
        records: log.recovery.records,
        firstOffset: log.firstOffset,
        nextOffset: log.nextOffset,
        term: log.highestTerm,
        removedFiles: log.recovery.removedFiles.length,
        rebuiltIndexes: log.recovery.rebuiltIndexes,
        ms: Math.round(log.recovery.ms),
      },
      'local log opened',
    );
    return log;
  }

  /**
   * Queues an append for the writer. `append.resolve` gets the record's offset once it is published
   * (durable, with durability `fsync`). Aborting `signal` before the writer took the record rejects ABORTED
   * and writes nothing; after that, the append runs to its outcome.
   */
  append(append: Pending, signal: AbortSignal | undefined): void {
    const refused =
      this.#failure !== undefined
        ? errors.failed('append', this.name, this.#failure)
        : this.#closed
          ? errors.closed('append', this.name)
          : undefined;
    if (refused) {
      append.reject(refused);
      return;
    }
    if (signal) {
      const onAbort = () => {
        if (append.taken) return;
        const at = this.#queue.indexOf(append);
        if (at >= 0) this.#queue.splice(at, 1);
        append.reject(abortError(signal, `append to pchannel ${this.name}`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      append.onSettled = () => signal.removeEventListener('abort', onAbort);
    }
    this.#queue.push(append);
    this.#kick();
  }

  /** Raises the pchannel's term (persisted before it takes effect). Lower than the stored one: CHANNEL_FENCED. */
  raiseTerm(term: bigint): Promise<void> {
    return this.#withMeta(async () => {
      if (term < this.highestTerm) throw errors.fencedByTerm('open', this.name, term, this.highestTerm);
      if (term === this.highestTerm) return;
      await writeChannelMeta(this.directory, this.#meta({ term }));
      this.highestTerm = term;
    });
  }

  /**
   * Records below `offset` are gone for readers from now on; whole segments below it are deleted. The
   * point is persisted first, so a crash in between leaves nothing a reader could see.
   */
  truncate(offset: number): Promise<void> {
    return this.#withMeta(async () => {
      if (this.#failure !== undefined) throw errors.failed('truncate', this.name, this.#failure);
      if (offset <= this.#truncatedBefore) return;
      await writeChannelMeta(this.directory, this.#meta({ truncatedBefore: offset }));
      this.#truncatedBefore = offset;
      if (offset > this.firstOffset) this.firstOffset = offset;
      const doomed: Segment[] = [];
      while (this.segments.length > 1 && this.segments[1]!.base <= offset)
        doomed.push(this.segments.shift()!);
      for (const segment of doomed) {
        segment.markDeleted();
        await unlinkIfThere(segment.path);
        await unlinkIfThere(segment.indexPath);
      }
      if (doomed.length > 0) {
        await syncDirectory(this.directory);
        this.#metrics.segmentsDeleted.add(doomed.length, this.#metricAttributes);
        this.#logger.debug({ truncatedBefore: offset, deleted: doomed.length }, 'local log truncated');
      }
    });
  }

  /** The segment holding `offset`, or undefined when it lies outside the published range. */
  segmentOf(offset: number): Segment | undefined {
    if (offset < this.firstOffset || offset >= this.nextOffset) return undefined;
    const segments = this.segments;
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (segments[mid]!.base <= offset) lo = mid;
      else hi = mid - 1;
    }
    const segment = segments[lo];
    return segment && segment.base <= offset && offset < segment.end ? segment : undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves at the next publish, when `signal` aborts, or when the log fails or closes. */
  waitForAppend(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted || this.#closed || this.#failure !== undefined) return resolve();
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Lets the queue drain (appends of closing WALs land), syncs what is not durable yet, closes the files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    while (this.#loop || this.#syncer || this.#makingNext || this.#sealing.size > 0) {
      await (this.#loop ?? this.#syncer ?? this.#makingNext ?? Promise.all(this.#sealing));
    }
    if (this.#next) {
      await this.#next.handle.close().catch(() => undefined);
      this.#next = undefined;
      await unlinkIfThere(join(this.directory, NEXT_SEGMENT_FILE)).catch(() => undefined);
    }
    try {
      if (this.#dirty && this.#failure === undefined) await this.#writer?.datasync();
    } finally {
      await this.#writer?.close().catch(() => undefined);
      this.#writer = undefined;
      await Promise.all(this.segments.map((segment) => segment.closeReader()));
      this.#wake();
      this.#logger.debug({ nextOffset: this.nextOffset }, 'local log closed');
    }
  }

  #kick(): void {
    if (this.#loop) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = undefined;
      if (this.#queue.length > 0 || this.#syncDue) this.#kick();
    });
  }

  /**
   * The writer: forms batches from the queue and writes them, one write call at a time. With durability
   * `fsync` it does not wait for a batch's fdatasync: the syncer (below) runs beside it, so while one
   * fdatasync is under way the next batch is written, and the appends a completed sync resolves are
   * issued again while the disk works on the next.
   */
  async #run(): Promise<void> {
    while (this.#failure === undefined) {
      if (this.#queue.length > 0) {
        await this.#writeBatch();
      } else if (this.#syncDue) {
        this.#syncDue = false;
        if (this.#dirty) await this.#guard('fdatasync', [], () => this.#sync());
      } else {
        return;
      }
    }
    this.#rejectQueued();
  }

  async #writeBatch(): Promise<void> {
    const { segmentBytes, maxBatchBytes, durability } = this.options;
    if (this.#writer === undefined) {
      const ok = await this.#guard('open the segment', [], () => this.#openWriter());
      if (!ok) return;
    }
    const segment = this.segments[this.segments.length - 1]!;
    const writer = this.#writer!;
    const batch: Pending[] = [];
    let bytes = 0;
    let roll = false;
    const written = this.#writtenRecords;
    while (this.#queue.length > 0) {
      const pending = this.#queue[0]!;
      if (pending.term < this.highestTerm) {
        this.#queue.shift();
        pending.reject(errors.fencedByTerm('append', this.name, pending.term, this.highestTerm));
        continue;
      }
      const length = pending.bytes.length;
      if (this.#writePosition + bytes + length > segmentBytes && written + batch.length > 0) {
        roll = true;
        break;
      }
      if (batch.length > 0 && bytes + length > maxBatchBytes) break;
      this.#queue.shift();
      pending.taken = true;
      batch.push(pending);
      bytes += length;
    }
    if (batch.length > 0) {
      const first = this.#nextToWrite;
      const buffers = new Array<Buffer>(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const record = batch[i]!.bytes;
        sealRecord(record, first + i);
        buffers[i] = record;
      }
      const position = this.#writePosition;
      const ok = await this.#guard('write', batch, () => writeAll(writer, buffers, position, bytes));
      if (!ok) return;
      this.#writePosition = position + bytes;
      this.#nextToWrite = first + batch.length;
      this.#writtenRecords = written + batch.length;
      const done: WrittenBatch = { segment, batch, buffers, first, position, bytes };
      if (durability === 'fsync') {
        this.#unsynced.push(done);
        this.#startSyncer();
      } else {
        this.#dirty = true;
        this.#publish([done]);
      }
    }
    if (roll) {
      // A segment is sealed only once everything written to it is durable and published.
      await this.#syncer;
      if (this.#failure === undefined) await this.#guard('roll a segment', [], () => this.#roll());
    }
  }

  /** Starts the syncer unless it runs: it fdatasyncs until every written batch is durable, publishing each. */
  #startSyncer(): void {
    if (this.#syncer) return;
    this.#syncer = (async () => {
      while (this.#unsynced.length > 0 && this.#failure === undefined) {
        // One fdatasync covers every batch whose write finished before it started.
        const covered = this.#unsynced.splice(0);
        const ok = await this.#guard(
          'fdatasync',
          covered.flatMap((written) => written.batch),
          () => this.#sync(),
        );
        if (!ok) break;
        this.#publish(covered);
      }
      this.#syncer = undefined;
    })();
  }

  /** Batches are durable (or, without `fsync`, written): readers may see them, and their appends resolve. */
  #publish(batches: readonly WrittenBatch[]): void {
    let count = 0;
    let bytes = 0;
    for (const { segment, batch, buffers, first, position, bytes: size } of batches) {
      let at = position;
      for (let i = 0; i < batch.length; i++) {
        segment.noteRecord(first + i, at);
        at += buffers[i]!.length;
      }
      segment.size = position + size;
      segment.records += batch.length;
      this.nextOffset = first + batch.length;
      count += batch.length;
      bytes += size;
    }
    this.#commits++;
    this.#appends += count;
    this.#metrics.commits.add(1, this.#metricAttributes);
    this.#metrics.commitSize.record(count, this.#metricAttributes);
    this.#metrics.appends.add(count, this.#metricAttributes);
    this.#metrics.bytes.add(bytes, this.#metricAttributes);
    this.#wake();
    for (const { batch, first } of batches) {
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(first + i);
    }
  }

  /**
   * Runs an I/O step of the writer or the syncer. On a failure (of this step or, meanwhile, of the other
   * stage) the log stops taking appends: `taken` — and every batch written but not yet durable — reject
   * UNAVAILABLE without `written` (nobody can tell), everything queued rejects with written false.
   */
  async #guard(what: string, taken: readonly Pending[], step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
    } catch (error) {
      this.#fail(what, error);
    }
    if (this.#failure === undefined) return true;
    // Failed here, or in the other stage meanwhile: what this step carried may or may not be on disk.
    for (const pending of taken) pending.reject(this.#failureError!);
    return false;
  }

  /** The first I/O failure stops the log; what was written and not yet durable rejects without `written`. */
  #fail(what: string, error: unknown): void {
    if (this.#failure !== undefined) return;
    const file = this.segments[this.segments.length - 1]?.path ?? this.directory;
    this.#failure = error;
    this.#failureError = errors.ioFailed(what, this.name, file, error);
    this.#logger.error({ err: this.#failureError, file }, this.#failureError.message);
    for (const written of this.#unsynced.splice(0)) {
      for (const pending of written.batch) pending.reject(this.#failureError);
    }
    this.#rejectQueued();
    this.#wake();
  }

  #rejectQueued(): void {
    for (const pending of this.#queue.splice(0))
      pending.reject(errors.failed('append', this.name, this.#failure));
  }

  async #sync(): Promise<void> {
    const started = performance.now();
    await this.#writer!.datasync();
    this.#dirty = false;
    this.#metrics.syncMs.record(performance.now() - started, this.#metricAttributes);
  }

  /**
   * Starts the next segment and seals the old one. Everything written to the old segment is durable (the
   * caller drained the syncer, and without `fsync` it is synced here) before the new one takes a record,
   * so only the last segment can ever hold a torn tail. The new segment is normally the one made ahead
   * (`next.log`: header written and synced, name durable), renamed to `<base>.log` without waiting for the
   * rename to be durable — recovery adopts a `next.log` whose first record continues the log — so a roll
   * costs no fdatasync on the append path. Closing the old writer runs beside the writer.
   */
  async #roll(): Promise<void> {
    const old = this.segments[this.segments.length - 1]!;
    const oldWriter = this.#writer!;
    if (this.#dirty) await this.#sync();
    this.#writer = undefined;
    const next = this.#next;
    this.#next = undefined;
    if (next) await this.#adoptNext(next);
    else await this.#startSegment(); // made too slowly, or failed to be made: make one now
    this.#makeNext();
    // Not synced: an index is a hint, checked by its CRC and size on open and rebuilt when it is off.
    const index = encodeIndex({
      base: old.base,
      records: old.records,
      size: old.size,
      entries: [...old.entries],
    });
    await writeFile(old.indexPath, index).catch((error: unknown) =>
      this.#logger.warn(
        { err: error, file: old.indexPath },
        'could not write a segment index (it is rebuilt on open)',
      ),
    );
    old.seal();
    this.#metrics.rolls.add(1, this.#metricAttributes);
    const closing: Promise<void> = oldWriter
      .close()
      .catch(() => undefined)
      .finally(() => this.#sealing.delete(closing));
    this.#sealing.add(closing);
  }

  /** The segment made ahead becomes the segment of the next record. */
  async #adoptNext(next: { readonly handle: FileHandle; readonly headerLength: number }): Promise<void> {
    const base = this.#nextToWrite;
    const path = join(this.directory, segmentFileName(base));
    await rename(join(this.directory, NEXT_SEGMENT_FILE), path);
    this.#activate(base, path, next.handle, next.headerLength);
  }

  /**
   * Makes the next segment ahead of its roll, beside the writer: `next.log` with its header, synced, and
   * the directory synced so its name is durable. A failure only means the roll makes one itself.
   */
  #makeNext(): void {
    if (this.#next || this.#makingNext || this.#closed || this.#failure !== undefined) return;
    const path = join(this.directory, NEXT_SEGMENT_FILE);
    this.#makingNext = (async () => {
      await unlinkIfThere(path);
      const header = encodeSegmentHeader(this.name);
      const handle = await open(path, 'wx');
      try {
        await handle.write(header, 0, header.length, 0);
        await handle.datasync();
        await syncDirectory(this.directory);
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw error;
      }
      if (this.#closed) {
        await handle.close();
        await unlinkIfThere(path);
        return;
      }
      this.#next = { handle, headerLength: header.length };
    })()
      .catch((error: unknown) => {
        this.#logger.warn(
          { err: error, file: path },
          'could not make the next segment ahead (a roll makes it then)',
        );
      })
      .finally(() => {
        this.#makingNext = undefined;
      });
  }

  /**
   * Opens the writer before the first append needs it (a read-write open calls this), so the first
   * appends do not wait for a segment to be created.
   */
  prepareWriter(): Promise<void> {
    // A running writer loop opens the writer itself when it needs one: nothing to wait for here.
    if (this.#writer !== undefined || this.#loop || this.#failure !== undefined) return Promise.resolve();
    this.#loop = this.#guard('open the segment', [], () => this.#openWriter())
      .then(() => undefined)
      .finally(() => {
        this.#loop = undefined;
        if (this.#queue.length > 0) this.#kick();
      });
    return this.#loop;
  }

  /** The writer of the last segment, or of a new one when there is none or the last one is sealed. */
  async #openWriter(): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    if (last === undefined || last.sealed) await this.#startSegment();
    else {
      this.#writer = await open(last.path, 'r+');
      this.#writePosition = last.size;
      this.#writtenRecords = last.records;
    }
    this.#makeNext();
  }

  /** Creates the segment of the next record, its header and name durable before it takes a record. */
  async #startSegment(): Promise<void> {
    const base = this.#nextToWrite;
    const path = join(this.directory, segmentFileName(base));
    const header = encodeSegmentHeader(this.name);
    const handle = await open(path, 'wx');
    try {
      await handle.write(header, 0, header.length, 0);
      await handle.datasync();
      await syncDirectory(this.directory);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    this.#activate(base, path, handle, header.length);
  }

  #activate(base: number, path: string, handle: FileHandle, headerLength: number): void {
    this.segments.push(
      new Segment({
        base,
        path,
        indexPath: join(this.directory, indexFileName(base)),
        headerLength,
        size: headerLength,
        records: 0,
        entries: [],
        indexIntervalBytes: this.options.indexIntervalBytes,
      }),
    );
    this.#writer = handle;
    this.#writePosition = headerLength;
    this.#writtenRecords = 0;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }

  #meta(change: Partial<Pick<ChannelMeta, 'term' | 'truncatedBefore'>>): ChannelMeta {
    return {
      pchannel: this.name,
      term: change.term ?? this.highestTerm,
      truncatedBefore: change.truncatedBefore ?? this.#truncatedBefore,
    };
  }

  /** Meta changes one at a time: each writes the whole file from the values in memory. */
  #withMeta<T>(change: () => Promise<T>): Promise<T> {
    const next = this.#metaChain.then(change, change);
    this.#metaChain = next.catch(() => undefined);
    return next;
  }
}

async function writeAll(
  handle: FileHandle,
  records: Buffer[],
  position: number,
  total: number,
): Promise<void> {
  // Records encoded one after another sit side by side in the arena: most batches are one piece.
  const pieces = contiguousRuns(records);
  let { bytesWritten } =
    pieces.length === 1
      ? await handle.write(pieces[0]!, 0, total, position)
      : await handle.writev(pieces, position);
  // Regular files take a whole write almost always; if not, write the rest.
  while (bytesWritten < total) {
    const rest = Buffer.concat(pieces).subarray(bytesWritten);
    const more = await handle.write(rest, 0, rest.length, position + bytesWritten);
    if (more.bytesWritten === 0) throw new Error('write made no progress');
    bytesWritten += more.bytesWritten;
  }
}

/** Removes `path`; false when it was not there. */
async function unlinkIfThere(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (!isErrnoCode(error, 'ENOENT')) throw error;
    return false;
  }
}

/**
 * `next.log` renamed to the segment its first record says it is, and that base offset; undefined when
 * there is no `next.log` or it holds no whole record (made ahead and never used, or its first batch was
 * torn: nothing in it was acknowledged, since its first fdatasync would have come first). Whether the
 * adopted segment really continues the log, the checks of the segments afterwards say.
 */
async function adoptNextSegment(
  directory: string,
  name: string,
  maxBodyBytes: number,
): Promise<number | undefined> {
  const path = join(directory, NEXT_SEGMENT_FILE);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  let base: number | undefined;
  try {
    const size = (await handle.stat()).size;
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    await handle.read(head, 0, head.length, 0);
    const header = decodeSegmentHeader(head, size);
    if (!header.ok || header.pchannel !== name) return undefined;
    const first = Buffer.alloc(Math.min(size - header.length, maxBodyBytes + RECORD_HEADER_BYTES));
    await handle.read(first, 0, first.length, header.length);
    const frame = readFrame(first, 0, first.length, maxBodyBytes);
    if (frame.kind !== 'record') return undefined;
    base = frame.offset;
  } finally {
    await handle.close();
  }
  const target = join(directory, segmentFileName(base));
  if (await exists(target)) return undefined; // the rename happened; this one is unused
  await rename(path, target);
  await syncDirectory(directory);
  return base;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return false;
    throw error;
  }
}

interface Recovered {
  readonly segments: Segment[];
  readonly nextOffset: number;
  readonly report: Omit<RecoveryReport, 'ms'>;
}

/** Reads what the directory holds and repairs the tail; see {@link ChannelLog.open}. */
async function recover(
  name: string,
  directory: string,
  meta: ChannelMeta,
  deps: ChannelLogDeps,
): Promise<Recovered> {
  const { options } = deps;
  const maxBodyBytes = options.maxRecordBytes - RECORD_HEADER_BYTES;
  const bases: number[] = [];
  const indexes = new Set<number>();
  for (const file of await readdir(directory)) {
    const parsed = parseFileName(file);
    if (parsed?.kind === 'log') bases.push(parsed.base);
    else if (parsed?.kind === 'idx') indexes.add(parsed.base);
  }
  const removedFiles: string[] = [];
  let rebuiltIndexes = 0;
  let cut: RecoveryReport['cut'];
  // The segment made ahead of a roll: it is the newest segment if its first record continues the log (the
  // roll renamed it, and the rename was lost in a crash), else unused and removed.
  const adopted = await adoptNextSegment(directory, name, maxBodyBytes);
  if (adopted === undefined) {
    if (await unlinkIfThere(join(directory, NEXT_SEGMENT_FILE))) removedFiles.push(NEXT_SEGMENT_FILE);
  } else if (!bases.includes(adopted)) {
    bases.push(adopted);
  }
  bases.sort((a, b) => a - b);
  const segmentAt = (base: number, headerLength: number, size: number, records: number, entries: number[]) =>
    new Segment({
      base,
      path: join(directory, segmentFileName(base)),
      indexPath: join(directory, indexFileName(base)),
      headerLength,
      size,
      records,
      entries,
      indexIntervalBytes: options.indexIntervalBytes,
    });

  // Segments wholly below the truncation point (a crash came between persisting it and deleting them).
  while (bases.length > 1 && bases[1]! <= meta.truncatedBefore) {
    const base = bases.shift()!;
    await unlinkIfThere(join(directory, segmentFileName(base)));
    await unlinkIfThere(join(directory, indexFileName(base)));
    removedFiles.push(segmentFileName(base));
  }

  const segments: Segment[] = [];
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const last = i === bases.length - 1;
    const path = join(directory, segmentFileName(base));
    const handle = await open(path, 'r+');
    try {
      const size = (await handle.stat()).size;
      const head = Buffer.alloc(Math.min(size, 64 * 1024));
      await handle.read(head, 0, head.length, 0);
      const header = decodeSegmentHeader(head, size);
      if (!header.ok || header.pchannel !== name) {
        const reason = !header.ok
          ? header.reason
          : `header names pchannel ${JSON.stringify(header.pchannel)}`;
        // A segment created at a crash may lack its header; it can hold no record (records are written only
        // after the header is durable). Anything else, or records behind the broken header, is damage.
        const orphan =
          last &&
          !header.ok &&
          !header.otherVersion &&
          (await findRecordAfter(handle, { from: 0, size, expected: base, maxBodyBytes })) === undefined;
        if (!orphan) throw errors.corrupt(path, 0, reason, name);
        await handle.close();
        await unlinkIfThere(path);
        await unlinkIfThere(join(directory, indexFileName(base)));
        await syncDirectory(directory);
        removedFiles.push(segmentFileName(base));
        cut = { file: path, position: 0, bytes: size, reason: `segment without a whole header: ${reason}` };
        continue;
      }
      if (!last) {
        const fromIndex = indexes.has(base)
          ? await loadIndex(join(directory, indexFileName(base)), base, size)
          : undefined;
        if (fromIndex) {
          segments.push(segmentAt(base, header.length, size, fromIndex.records, fromIndex.entries));
        } else {
          const scan = await scanRecords(handle, {
            from: header.length,
            size,
            base,
            maxBodyBytes,
            indexIntervalBytes: options.indexIntervalBytes,
          });
          if (scan.stop) throw errors.corrupt(path, scan.stop.position, scan.stop.reason, name);
          const segment = segmentAt(base, header.length, size, scan.records, scan.entries);
          await writeFile(
            segment.indexPath,
            encodeIndex({ base, records: scan.records, size, entries: scan.entries }),
          );
          rebuiltIndexes++;
          segments.push(segment);
        }
        segments[segments.length - 1]!.seal();
        continue;
      }
      // The last segment: read to the end; cut a torn or damaged tail unless a good record follows it.
      const scan = await scanRecords(handle, {
        from: header.length,
        size,
        base,
        maxBodyBytes,
        indexIntervalBytes: options.indexIntervalBytes,
      });
      if (scan.stop) {
        const expected = base + scan.records;
        const after = await findRecordAfter(handle, {
          from: scan.stop.position + 1,
          size,
          expected,
          maxBodyBytes,
        });
        if (after !== undefined) {
          throw errors.corrupt(
            path,
            scan.stop.position,
            `${scan.stop.reason}, and a good record follows at byte ${after}: not a torn tail, refusing to cut`,
            name,
          );
        }
        await handle.truncate(scan.end);
        await handle.datasync();
        cut = { file: path, position: scan.end, bytes: size - scan.end, reason: scan.stop.reason };
      }
      // An index of the last segment is stale once it takes appends again.
      if (indexes.has(base)) await unlinkIfThere(join(directory, indexFileName(base)));
      segments.push(segmentAt(base, header.length, scan.end, scan.records, scan.entries));
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  for (let i = 1; i < segments.length; i++) {
    const before = segments[i - 1]!;
    const segment = segments[i]!;
    if (before.end !== segment.base) {
      throw errors.corrupt(
        segment.path,
        0,
        `starts at offset ${segment.base}, but ${segmentFileName(before.base)} ends at ${before.end}`,
        name,
      );
    }
  }
  let nextOffset = segments.length > 0 ? segments[segments.length - 1]!.end : meta.truncatedBefore;
  if (meta.truncatedBefore > nextOffset) {
    // Truncated past what survived (records acknowledged before a machine crash with durability
    // `interval` or `none`): everything left is below the truncation point.
    for (const segment of segments.splice(0)) {
      await unlinkIfThere(segment.path);
      await unlinkIfThere(segment.indexPath);
      removedFiles.push(segmentFileName(segment.base));
    }
    nextOffset = meta.truncatedBefore;
  }
  const records = segments.reduce((sum, segment) => sum + segment.records, 0);
  return {
    segments,
    nextOffset,
    report: { segments: segments.length, records, ...(cut ? { cut } : {}), removedFiles, rebuiltIndexes },
  };
}

/** The sealed segment's index if it is whole and describes this file; undefined to rebuild it. */
async function loadIndex(
  file: string,
  base: number,
  size: number,
): Promise<{ records: number; entries: number[] } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  const index = decodeIndex(bytes);
  if (!index || index.base !== base || index.size !== size) return undefined;
  return { records: index.records, entries: [...index.entries] };
}
