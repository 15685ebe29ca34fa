import {
  type AppendResult,
  hasCode,
  type MutableMessage,
  physicalMsOf,
  type TimestampAllocator,
  WalError,
} from '@walstream/core';
import { retryWithBackoff } from '@walstream/core/internal';
import { redoRequest, vchannelError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { OwnMessages } from '../own-messages.js';
import type { TxnSession } from '../txn/session.js';
import { type Deferred, deferred, Notifier } from '../util/signal.js';
import {
  type CreateCollectionHeader,
  type CreateSegmentHeader,
  DEFAULT_PARTITION_ID,
  shardMessages,
} from './headers.js';
import type { SegmentMeta, ShardState, VChannelMeta } from './state.js';

export type SegmentState = 'growing' | 'sealed';

/** A segment as the writer tracks it: its stats, which move, plus what a flush must wait for. */
export interface LiveSegment extends Omit<SegmentMeta, 'rows' | 'bytes'> {
  rows: number;
  bytes: number;
  state: SegmentState;
  /** Inserts assigned here whose append has not settled. */
  inFlight: number;
  /** Open txns with inserts here: the segment is flushed only after they end. */
  readonly txns: Set<TxnSession>;
  readonly changed: Notifier;
}

export interface ShardManagerDeps {
  readonly options: ResolvedOptions;
  readonly allocator: TimestampAllocator;
  readonly own: OwnMessages;
  /** Appends through the full WAL (for the WAL's own CreateSegment and Flush). */
  readonly append: (message: MutableMessage) => Promise<AppendResult>;
  readonly onError?: (error: unknown) => void;
}

/** Failures a background append must not retry. */
const PERMANENT = [
  'UNRECOVERABLE',
  'INVALID_ARGUMENT',
  'ON_SHUTDOWN',
  'CLOSED',
  'CHANNEL_FENCED',
  'READ_ONLY',
  'ABORTED',
] as const;

const partitionKey = (vchannel: string, partitionId: bigint): string => `${vchannel}\u0000${partitionId}`;

/**
 * The live shard state of one WAL: vchannels (collections and partitions) and growing segments, with
 * the background work that keeps segments coming: a CreateSegment worker when an insert finds no room, a
 * Flush worker for each sealed segment (after its in-flight inserts and txns ended), and an age check.
 */
export class ShardManager {
  readonly #deps: ShardManagerDeps;
  readonly #vchannels = new Map<string, VChannelMeta>();
  readonly #segments = new Map<bigint, LiveSegment>();
  readonly #growing = new Map<string, LiveSegment[]>();
  readonly #creating = new Map<string, Deferred<void>>();
  readonly #stopping = new AbortController();
  readonly #workers = new Set<Promise<void>>();
  #ageTimer: NodeJS.Timeout | undefined;

  constructor(state: ShardState, deps: ShardManagerDeps) {
    this.#deps = deps;
    for (const meta of state.vchannels.values()) this.#vchannels.set(meta.name, meta);
    const recovered = [...state.segments.values()].sort((a, b) =>
      a.createTimeTick < b.createTimeTick ? -1 : a.createTimeTick > b.createTimeTick ? 1 : 0,
    );
    for (const meta of recovered) {
      const segment: LiveSegment = {
        ...meta,
        state: 'growing',
        inFlight: 0,
        txns: new Set(),
        changed: new Notifier(),
      };
      this.#segments.set(segment.segmentId, segment);
      this.#growingOf(segment.vchannel, segment.partitionId).push(segment);
    }
  }

  /** Starts the age check and seals recovered segments that are already full or old. */
  start(): void {
    if (this.#ageTimer || this.#stopping.signal.aborted) return;
    for (const segment of [...this.#segments.values()]) if (this.#full(segment)) this.seal(segment);
    this.checkAge();
    this.#ageTimer = setInterval(() => this.checkAge(), this.#deps.options.segment.checkIntervalMs);
    this.#ageTimer.unref?.();
  }

  vchannel(name: string): VChannelMeta | undefined {
    return this.#vchannels.get(name);
  }

  vchannels(): VChannelMeta[] {
    return [...this.#vchannels.values()];
  }

  segment(segmentId: bigint): LiveSegment | undefined {
    return this.#segments.get(segmentId);
  }

  segments(): LiveSegment[] {
    return [...this.#segments.values()];
  }

  /** Rejects a message on a vchannel that was dropped, or never created when that is required. */
  checkVChannel(vchannel: string): void {
    const meta = this.#vchannels.get(vchannel);
    if (meta?.state === 'dropped') throw vchannelError(vchannel, 'vchannel-dropped');
    if (!meta && this.#deps.options.requireVChannel) throw vchannelError(vchannel, 'vchannel-not-found');
  }

  requireNormal(vchannel: string): VChannelMeta {
    const meta = this.#vchannels.get(vchannel);
    if (!meta) throw vchannelError(vchannel, 'vchannel-not-found');
    if (meta.state === 'dropped') throw vchannelError(vchannel, 'vchannel-dropped');
    return meta;
  }

  requirePartition(meta: VChannelMeta, partitionId: bigint): void {
    if (!meta.partitions.has(partitionId)) {
      throw new WalError(
        'UNRECOVERABLE',
        `partition ${partitionId} does not exist on vchannel ${meta.name}`,
        {
          details: { vchannel: meta.name, partitionId, reason: 'partition-not-found' },
        },
      );
    }
  }

  createVChannel(vchannel: string, header: CreateCollectionHeader, timeTick: bigint): void {
    this.#vchannels.set(vchannel, {
      name: vchannel,
      collectionId: header.collectionId,
      state: 'normal',
      partitions: new Set(header.partitionIds ?? [DEFAULT_PARTITION_ID]),
      fenceTimeTick: timeTick,
    });
  }

  dropVChannel(vchannel: string): void {
    const meta = this.#vchannels.get(vchannel);
    if (!meta) return;
    this.#vchannels.set(vchannel, { ...meta, state: 'dropped', partitions: new Set() });
    for (const segment of [...this.#segments.values()])
      if (segment.vchannel === vchannel) this.#remove(segment);
  }

  addPartition(vchannel: string, partitionId: bigint): void {
    const meta = this.#vchannels.get(vchannel);
    if (meta)
      this.#vchannels.set(vchannel, { ...meta, partitions: new Set([...meta.partitions, partitionId]) });
  }

  dropPartition(vchannel: string, partitionId: bigint): void {
    const meta = this.#vchannels.get(vchannel);
    if (!meta) return;
    const partitions = new Set(meta.partitions);
    partitions.delete(partitionId);
    this.#vchannels.set(vchannel, { ...meta, partitions });
    for (const segment of [...this.#segments.values()]) {
      if (segment.vchannel === vchannel && segment.partitionId === partitionId) this.#remove(segment);
    }
  }

  /**
   * A growing segment with room for the insert, its rows reserved and an in-flight append counted (call
   * {@link release} when the append settled). When no segment can take it, asks for a rerun: right away if
   * the timetick is merely too old, after a new segment exists otherwise.
   */
  assign(
    meta: VChannelMeta,
    partitionId: bigint,
    rows: number,
    bytes: number,
    timeTick: bigint,
    txn: TxnSession | undefined,
  ): LiveSegment {
    const policy = this.#deps.options.segment;
    if (rows > policy.maxRows || bytes > policy.maxBytes) {
      throw new WalError(
        'UNRECOVERABLE',
        `insert of ${rows} rows / ${bytes} bytes exceeds a segment (${policy.maxRows} rows / ${policy.maxBytes} bytes)`,
        { details: { vchannel: meta.name, reason: 'insert-too-large' } },
      );
    }
    if (timeTick <= meta.fenceTimeTick) throw redoRequest('timetick at or below the vchannel fence');
    let tooOld = false;
    for (const segment of [...this.#growingOf(meta.name, partitionId)]) {
      if (timeTick <= segment.createTimeTick) {
        tooOld = true;
        continue;
      }
      if (segment.rows + rows > segment.maxRows || segment.bytes + bytes > segment.maxBytes) {
        // This insert does not fit: the segment is as full as it will usefully get.
        this.seal(segment);
        continue;
      }
      segment.rows += rows;
      segment.bytes += bytes;
      segment.inFlight++;
      if (txn) this.attachTxn(segment, txn);
      if (this.#full(segment)) this.seal(segment);
      return segment;
    }
    if (tooOld) throw redoRequest('timetick older than the newest growing segment');
    throw redoRequest('waiting for a new growing segment', this.#ensureSegment(meta.name, partitionId));
  }

  /** The insert's append settled (either way). */
  release(segment: LiveSegment): void {
    segment.inFlight--;
    segment.changed.notify();
  }

  attachTxn(segment: LiveSegment, txn: TxnSession): void {
    if (segment.txns.has(txn)) return;
    segment.txns.add(txn);
    txn.onDone(() => {
      segment.txns.delete(txn);
      segment.changed.notify();
    });
  }

  growingIds(vchannel: string): bigint[] {
    return [...this.#segments.values()]
      .filter((segment) => segment.vchannel === vchannel && segment.state === 'growing')
      .map((segment) => segment.segmentId);
  }

  /** After a ManualFlush: its segments are gone (the flusher seals them), and older timeticks are fenced. */
  manualFlushed(vchannel: string, segmentIds: readonly bigint[], timeTick: bigint): void {
    for (const segmentId of segmentIds) {
      const segment = this.#segments.get(segmentId);
      if (segment) this.#remove(segment);
    }
    const meta = this.#vchannels.get(vchannel);
    if (meta && timeTick > meta.fenceTimeTick)
      this.#vchannels.set(vchannel, { ...meta, fenceTimeTick: timeTick });
  }

  /** Checks the WAL's own CreateSegment before it is written. */
  checkCreateSegment(meta: VChannelMeta, header: CreateSegmentHeader, timeTick: bigint): void {
    this.requirePartition(meta, header.partitionId);
    if (this.#segments.has(header.segmentId)) {
      throw new WalError('UNRECOVERABLE', `segment ${header.segmentId} already exists`, {
        details: { vchannel: meta.name, segmentId: header.segmentId },
      });
    }
    if (timeTick <= meta.fenceTimeTick)
      throw redoRequest('CreateSegment timetick at or below the vchannel fence');
  }

  registerSegment(header: CreateSegmentHeader, vchannel: string, timeTick: bigint): void {
    const segment: LiveSegment = {
      segmentId: header.segmentId,
      vchannel,
      collectionId: header.collectionId,
      partitionId: header.partitionId,
      createTimeTick: timeTick,
      maxRows: header.maxRows,
      maxBytes: header.maxBytes,
      rows: 0,
      bytes: 0,
      state: 'growing',
      inFlight: 0,
      txns: new Set(),
      changed: new Notifier(),
    };
    this.#segments.set(segment.segmentId, segment);
    this.#growingOf(vchannel, header.partitionId).push(segment);
  }

  /** Checks the WAL's own Flush before it is written: the segment must be sealed. */
  checkFlush(segmentId: bigint): LiveSegment {
    const segment = this.#segments.get(segmentId);
    if (!segment || segment.state !== 'sealed') {
      throw new WalError('UNRECOVERABLE', `segment ${segmentId} is not a sealed segment`, {
        details: { segmentId },
      });
    }
    return segment;
  }

  flushed(segment: LiveSegment): void {
    this.#remove(segment);
  }

  /** Stops taking rows into `segment` and starts its Flush worker. */
  seal(segment: LiveSegment): void {
    if (segment.state !== 'growing') return;
    segment.state = 'sealed';
    const list = this.#growingOf(segment.vchannel, segment.partitionId);
    const index = list.indexOf(segment);
    if (index >= 0) list.splice(index, 1);
    this.#track(this.#flushWorker(segment));
  }

  /** Seals growing segments older than the policy's age. */
  checkAge(): void {
    const { maxAgeMs } = this.#deps.options.segment;
    const now = this.#deps.options.now();
    for (const segment of [...this.#segments.values()]) {
      if (segment.state === 'growing' && now - physicalMsOf(segment.createTimeTick) >= maxAgeMs)
        this.seal(segment);
    }
  }

  /** Stops the age check and background workers; waits for the workers to finish. */
  async stop(): Promise<void> {
    if (this.#ageTimer) clearInterval(this.#ageTimer);
    this.#ageTimer = undefined;
    this.#stopping.abort();
    for (const segment of this.#segments.values()) segment.changed.notify();
    await Promise.allSettled([...this.#workers]);
  }

  #full(segment: LiveSegment): boolean {
    return segment.rows >= segment.maxRows || segment.bytes >= segment.maxBytes;
  }

  #growingOf(vchannel: string, partitionId: bigint): LiveSegment[] {
    const key = partitionKey(vchannel, partitionId);
    let list = this.#growing.get(key);
    if (!list) {
      list = [];
      this.#growing.set(key, list);
    }
    return list;
  }

  #remove(segment: LiveSegment): void {
    if (this.#segments.get(segment.segmentId) !== segment) return;
    this.#segments.delete(segment.segmentId);
    const list = this.#growingOf(segment.vchannel, segment.partitionId);
    const index = list.indexOf(segment);
    if (index >= 0) list.splice(index, 1);
    segment.changed.notify();
  }

  #track(worker: Promise<void>): void {
    this.#workers.add(worker);
    void worker.finally(() => this.#workers.delete(worker));
  }

  /** Resolves once a new growing segment exists for the partition (one worker per partition at a time). */
  #ensureSegment(vchannel: string, partitionId: bigint): Promise<void> {
    const key = partitionKey(vchannel, partitionId);
    const running = this.#creating.get(key);
    if (running) return running.promise;
    const created = deferred<void>();
    created.promise.catch(() => undefined);
    this.#creating.set(key, created);
    this.#track(
      this.#createSegmentWorker(vchannel, partitionId)
        .then(created.resolve, created.reject)
        .finally(() => {
          if (this.#creating.get(key) === created) this.#creating.delete(key);
        }),
    );
    return created.promise;
  }

  async #createSegmentWorker(vchannel: string, partitionId: bigint): Promise<void> {
    const { options, allocator, own, append } = this.#deps;
    await this.#retry(async () => {
      const meta = this.requireNormal(vchannel);
      this.requirePartition(meta, partitionId);
      const segmentId = await allocator.allocate();
      const message = shardMessages.createSegment(vchannel, {
        collectionId: meta.collectionId,
        partitionId,
        segmentId,
        maxRows: options.segment.maxRows,
        maxBytes: options.segment.maxBytes,
      });
      await append(own.mark(message));
    });
  }

  async #flushWorker(segment: LiveSegment): Promise<void> {
    const alive = (): boolean =>
      !this.#stopping.signal.aborted && this.#segments.get(segment.segmentId) === segment;
    // A Flush must follow every insert of the segment in the log, and no open txn may still commit rows here.
    while (alive() && (segment.inFlight > 0 || segment.txns.size > 0)) await segment.changed.wait();
    if (!alive()) return;
    try {
      await this.#retry(async () => {
        if (!alive()) return;
        const message = shardMessages.flush(segment.vchannel, {
          collectionId: segment.collectionId,
          partitionId: segment.partitionId,
          segmentId: segment.segmentId,
        });
        await this.#deps.append(this.#deps.own.mark(message));
      });
    } catch (error) {
      // The segment stays sealed; the next open re-seals it and writes the Flush then.
      if (!hasCode(error, 'ON_SHUTDOWN', 'CLOSED', 'CHANNEL_FENCED')) this.#deps.onError?.(error);
    }
  }

  #retry(attempt: () => Promise<void>): Promise<void> {
    const { initialMs, maxMs } = this.#deps.options.workerRetry;
    return retryWithBackoff(attempt, {
      initialMs,
      maxMs,
      shouldRetry: (error) => !hasCode(error, ...PERMANENT),
      stopReason: () =>
        this.#stopping.signal.aborted ? new WalError('ON_SHUTDOWN', 'shard manager is stopping') : undefined,
    });
  }
}
