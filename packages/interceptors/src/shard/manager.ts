import {
  type AppendResult,
  hasCode,
  type ImmutableMessage,
  type MutableMessage,
  physicalMsOf,
  type TimestampAllocator,
  WalError,
} from '@walstream/core';
import { isRetriableFailure, retryWithBackoff } from '@walstream/core/internal';
import type { Observability } from '@walstream/core/spi';
import { collectionNotFound, redoRequest, vchannelDropped, vchannelNotFound } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { OwnMessages } from '../own-messages.js';
import type { TxnSession } from '../timetick/txn-session.js';
import { type Deferred, deferred, Notifier } from '../util/signal.js';
import { ShardMessageType } from './message-types.js';
import { type CreateSegmentHeader, decodeInsert, type InsertHeader, walShardMessages } from './messages.js';
import {
  insertBytes,
  type SegmentMeta,
  type SegmentObserver,
  type ShardState,
  type VChannelMeta,
} from './state.js';

export type SegmentState = 'growing' | 'sealed';

type Counter = ReturnType<Observability['meter']['createCounter']>;

/**
 * A segment as the writer tracks it: the state's segment (rows that landed), plus what is reserved in it
 * and what its Flush must wait for.
 */
export class LiveSegment {
  /** The {@link ShardState}'s own record: its rows and bytes move as inserts land. */
  readonly meta: SegmentMeta;
  state: SegmentState = 'growing';
  /** Rows and bytes of inserts assigned here that did not land yet, or landed in a txn still open. */
  reservedRows = 0;
  reservedBytes = 0;
  /** Inserts assigned here whose append has not settled. */
  inFlight = 0;
  /** Open txns with inserts here: the segment is flushed only after they end. */
  readonly txns = new Set<TxnSession>();
  readonly changed = new Notifier();

  constructor(meta: SegmentMeta) {
    this.meta = meta;
  }

  get segmentId(): bigint {
    return this.meta.segmentId;
  }

  get vchannel(): string {
    return this.meta.vchannel;
  }

  get partitionId(): bigint {
    return this.meta.partitionId;
  }

  /** Rows that landed or may still land here: what the seal policy counts. */
  get rows(): number {
    return this.meta.rows + this.reservedRows;
  }

  get bytes(): number {
    return this.meta.bytes + this.reservedBytes;
  }
}

/** An insert of a txn that landed and waits for the txn's end. */
interface TxnInsert {
  readonly message: ImmutableMessage;
  readonly segment: LiveSegment;
  readonly rows: number;
  readonly bytes: number;
}

export interface ShardManagerDeps {
  readonly pchannel: string;
  readonly options: ResolvedOptions;
  readonly allocator: TimestampAllocator;
  readonly own: OwnMessages;
  /** Appends through the full WAL (for the WAL's own CreateSegment and Flush). */
  readonly append: (message: MutableMessage) => Promise<AppendResult>;
  readonly observability: Observability;
}

/** The WAL is going away: nothing to report. */
const STOPPED = ['ON_SHUTDOWN', 'CLOSED', 'CHANNEL_FENCED'] as const;

/** A CreateSegment that failed with one of these can never be written by this WAL, nor can the inserts. */
const UNWRITABLE = ['CHANNEL_FENCED', 'CLOSED', 'READ_ONLY'] as const;

const partitionKey = (vchannel: string, partitionId: bigint): string => `${vchannel}\u0000${partitionId}`;

/**
 * The shard of one live WAL: its own {@link ShardState}, to which every shard message is applied once it
 * landed (by the same code recovery and replay use), and what only a writer needs on top: the checks before
 * a write, segment assignment with reservations, and the background work that keeps segments coming — a
 * CreateSegment worker when an insert finds no room, a Flush worker for each sealed segment (after its
 * in-flight inserts and txns ended), and an age check.
 */
export class ShardManager implements SegmentObserver {
  /** Everything that landed on this WAL (a txn's inserts once it committed). */
  readonly state: ShardState;
  readonly #deps: ShardManagerDeps;
  readonly #segments = new Map<bigint, LiveSegment>();
  readonly #growing = new Map<string, LiveSegment[]>();
  readonly #creatingSegment = new Map<string, Deferred<void>>();
  readonly #creatingVChannel = new Map<string, Promise<void>>();
  readonly #txnInserts = new Map<TxnSession, TxnInsert[]>();
  readonly #stopping = new AbortController();
  readonly #workers = new Set<Promise<void>>();
  readonly #created: Counter;
  readonly #flushed: Counter;
  #ageTimer: NodeJS.Timeout | undefined;

  /** `state` becomes this manager's own: pass a copy. */
  constructor(state: ShardState, deps: ShardManagerDeps) {
    this.state = state;
    this.#deps = deps;
    this.#created = deps.observability.meter.createCounter('walstream.shard.segments.created', {
      description: 'CreateSegment messages the WAL wrote',
    });
    this.#flushed = deps.observability.meter.createCounter('walstream.shard.segments.flushed', {
      description: 'Flush messages the WAL wrote',
    });
    const recovered = [...state.segments.values()].sort((a, b) =>
      a.createTimeTick < b.createTimeTick ? -1 : a.createTimeTick > b.createTimeTick ? 1 : 0,
    );
    for (const meta of recovered) this.segmentCreated(meta);
  }

  /** Starts the age check and seals recovered segments that are already full or old. */
  start(): void {
    if (this.#ageTimer || this.#stopping.signal.aborted) return;
    for (const segment of [...this.#segments.values()]) if (this.#full(segment)) this.seal(segment);
    this.checkAge();
    this.#ageTimer = setInterval(() => this.checkAge(), this.#deps.options.segment.checkIntervalMs);
    this.#ageTimer.unref?.();
  }

  // --- state -------------------------------------------------------------------------------------------

  /** A shard message landed: apply it (the live segments follow through {@link SegmentObserver}). */
  landed(message: ImmutableMessage): void {
    this.state.apply(message, this);
  }

  segmentCreated(meta: SegmentMeta): void {
    const segment = new LiveSegment(meta);
    this.#segments.set(segment.segmentId, segment);
    this.#growingOf(segment.vchannel, segment.partitionId).push(segment);
  }

  segmentRemoved(meta: SegmentMeta): void {
    const segment = this.#segments.get(meta.segmentId);
    if (!segment) return;
    this.#segments.delete(segment.segmentId);
    this.#removeGrowing(segment);
    segment.changed.notify();
  }

  vchannel(name: string): VChannelMeta | undefined {
    return this.state.vchannels.get(name);
  }

  vchannels(): VChannelMeta[] {
    return [...this.state.vchannels.values()];
  }

  segment(segmentId: bigint): LiveSegment | undefined {
    return this.#segments.get(segmentId);
  }

  segments(): LiveSegment[] {
    return [...this.#segments.values()];
  }

  // --- checks before a write ---------------------------------------------------------------------------

  /**
   * A plain message (no shard type) may be written on `vchannel`: it exists (or need not, when
   * `requireVChannel` is off) and is not dropped. Its timetick is not held to the vchannel's fence: plain
   * messages change no shard state, and a new term's first timeticks must not wait on the previous
   * term's.
   */
  checkVChannel(vchannel: string): void {
    const meta = this.state.vchannels.get(vchannel);
    if (!meta) {
      if (this.#deps.options.requireVChannel) throw vchannelNotFound(this.#deps.pchannel, vchannel);
      return;
    }
    if (meta.state === 'dropped') throw vchannelDropped(this.#deps.pchannel, meta.name);
  }

  /** The vchannel, which must exist and not be dropped. */
  requireVChannel(vchannel: string): VChannelMeta {
    const meta = this.state.vchannels.get(vchannel);
    if (!meta) throw vchannelNotFound(this.#deps.pchannel, vchannel);
    if (meta.state === 'dropped') throw vchannelDropped(this.#deps.pchannel, meta.name);
    return meta;
  }

  /** As {@link requireVChannel}, and the vchannel carries a collection (Milvus's messages need one). */
  requireCollection(vchannel: string): VChannelMeta & { collectionId: bigint } {
    const meta = this.requireVChannel(vchannel);
    if (meta.collectionId === undefined) throw collectionNotFound(vchannel);
    return meta as VChannelMeta & { collectionId: bigint };
  }

  /**
   * A message that changes the shard state (a segment, its rows, a repeated create) must come after the
   * create, CreateCollection or ManualFlush that set the vchannel's fence in timetick order as it does in
   * the log, or a replay would apply it otherwise: at or below the fence, the append is rerun with a fresh
   * timetick. (Exclusive messages need no check: the lock orders them.)
   */
  checkFence(meta: VChannelMeta, timeTick: bigint): void {
    if (timeTick <= meta.fenceTimeTick)
      throw redoRequest(`timetick at or below the fence of vchannel ${meta.name}`);
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

  /** Checks the WAL's own CreateSegment before it is written. */
  checkCreateSegment(meta: VChannelMeta, header: CreateSegmentHeader): void {
    this.requirePartition(meta, header.partitionId);
    if (this.#segments.has(header.segmentId)) {
      throw new WalError('UNRECOVERABLE', `segment ${header.segmentId} already exists`, {
        details: { vchannel: meta.name, segmentId: header.segmentId },
      });
    }
  }

  /** Checks the WAL's own Flush before it is written: the segment must be sealed. */
  checkFlush(segmentId: bigint): void {
    const segment = this.#segments.get(segmentId);
    if (!segment || segment.state !== 'sealed') {
      throw new WalError('UNRECOVERABLE', `segment ${segmentId} is not a sealed segment`, {
        details: { segmentId },
      });
    }
  }

  /**
   * Creates of one vchannel run one at a time, so the first in timetick order is the one that creates it
   * (a live WAL and a replay then agree on its fence): while one is in flight, the next is rerun after it.
   */
  startVChannelCreate(vchannel: string): () => void {
    const running = this.#creatingVChannel.get(vchannel);
    if (running) throw redoRequest(`a create of vchannel ${vchannel} is in flight`, running);
    const done = deferred<void>();
    this.#creatingVChannel.set(vchannel, done.promise);
    return () => {
      this.#creatingVChannel.delete(vchannel);
      done.resolve();
    };
  }

  // --- inserts -----------------------------------------------------------------------------------------

  /**
   * A growing segment with room for the insert, its rows reserved and an in-flight append counted (call
   * {@link insertSettled} when the append settled). When no segment can take it, asks for a rerun: right
   * away if the timetick is merely too old, after a new segment exists otherwise.
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
    let tooOld = false;
    for (const segment of [...this.#growingOf(meta.name, partitionId)]) {
      if (timeTick <= segment.meta.createTimeTick) {
        tooOld = true;
        continue;
      }
      if (segment.rows + rows > segment.meta.maxRows || segment.bytes + bytes > segment.meta.maxBytes) {
        // This insert does not fit: the segment is as full as it will usefully get.
        this.seal(segment);
        continue;
      }
      segment.reservedRows += rows;
      segment.reservedBytes += bytes;
      segment.inFlight++;
      if (txn) this.attachTxn(segment, txn);
      if (this.#full(segment)) this.seal(segment);
      return segment;
    }
    if (tooOld) throw redoRequest('timetick older than the newest growing segment');
    throw redoRequest('waiting for a new growing segment', this.#ensureSegment(meta.name, partitionId));
  }

  /**
   * The insert's append settled: `landed` is the written message, undefined when it failed. A plain insert
   * is applied now; a txn's waits for the txn's commit and keeps its rows reserved until the txn ends.
   */
  insertSettled(
    segment: LiveSegment,
    rows: number,
    bytes: number,
    landed: ImmutableMessage | undefined,
    txn: TxnSession | undefined,
  ): void {
    segment.inFlight--;
    if (landed && txn) this.#holdForTxn(txn, { message: landed, segment, rows, bytes });
    else {
      if (landed) this.state.apply(landed, this);
      unreserve(segment, rows, bytes);
    }
    segment.changed.notify();
  }

  /** Inserts of a txn recovered open at the fence: they hold their segments as if they had just landed. */
  recoverTxnInserts(txn: TxnSession, bodies: readonly ImmutableMessage[]): void {
    for (const body of bodies) {
      if (body.messageType !== ShardMessageType.Insert) continue;
      let header: InsertHeader;
      try {
        header = decodeInsert(body);
      } catch {
        continue; // the state will skip it too, should the txn commit
      }
      const segment = header.segmentId === undefined ? undefined : this.#segments.get(header.segmentId);
      if (!segment) continue;
      const bytes = insertBytes(header.binarySize, body.payload);
      segment.reservedRows += header.rows;
      segment.reservedBytes += bytes;
      this.attachTxn(segment, txn);
      this.#holdForTxn(txn, { message: body, segment, rows: header.rows, bytes });
    }
  }

  /** The commit of `txn` landed: its inserts count now. */
  txnCommitted(txn: TxnSession): void {
    const inserts = this.#txnInserts.get(txn);
    if (!inserts) return;
    this.#txnInserts.delete(txn);
    for (const insert of inserts) {
      this.state.apply(insert.message, this);
      unreserve(insert.segment, insert.rows, insert.bytes);
    }
  }

  #holdForTxn(txn: TxnSession, insert: TxnInsert): void {
    const held = this.#txnInserts.get(txn);
    if (held) {
      held.push(insert);
      return;
    }
    this.#txnInserts.set(txn, [insert]);
    // Rolled back, expired or failed: its rows never count. (A commit took them before this runs.)
    txn.onDone(() => {
      for (const dropped of this.#txnInserts.get(txn) ?? [])
        unreserve(dropped.segment, dropped.rows, dropped.bytes);
      this.#txnInserts.delete(txn);
    });
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

  // --- sealing and background work ---------------------------------------------------------------------

  /** Stops taking rows into `segment` and starts its Flush worker. */
  seal(segment: LiveSegment): void {
    if (segment.state !== 'growing') return;
    segment.state = 'sealed';
    this.#removeGrowing(segment);
    this.#track(this.#flushWorker(segment));
  }

  /** Seals growing segments older than the policy's age. */
  checkAge(): void {
    const { maxAgeMs } = this.#deps.options.segment;
    const now = this.#deps.options.now();
    for (const segment of [...this.#segments.values()]) {
      if (segment.state === 'growing' && now - physicalMsOf(segment.meta.createTimeTick) >= maxAgeMs)
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
    return segment.rows >= segment.meta.maxRows || segment.bytes >= segment.meta.maxBytes;
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

  #removeGrowing(segment: LiveSegment): void {
    const list = this.#growingOf(segment.vchannel, segment.partitionId);
    const index = list.indexOf(segment);
    if (index >= 0) list.splice(index, 1);
  }

  #track(worker: Promise<void>): void {
    this.#workers.add(worker);
    void worker.finally(() => this.#workers.delete(worker));
  }

  /**
   * Settles once the worker creating a growing segment for the partition ended (one worker per partition
   * at a time): resolved when the segment exists, or when the inserts waiting for it should run again to
   * find out why it does not (e.g. the partition was dropped meanwhile: their own checks answer); rejected
   * when this WAL can never write it, nor them — fenced, closed, read-only — with that error, which ends
   * the waiting inserts (a rerun would only start another worker that fails the same way).
   */
  #ensureSegment(vchannel: string, partitionId: bigint): Promise<void> {
    const key = partitionKey(vchannel, partitionId);
    const running = this.#creatingSegment.get(key);
    if (running) return running.promise;
    const created = deferred<void>();
    created.promise.catch(() => undefined);
    this.#creatingSegment.set(key, created);
    this.#track(
      this.#createSegmentWorker(vchannel, partitionId)
        .then(created.resolve, (error: unknown) => {
          if (hasCode(error, ...UNWRITABLE)) created.reject(error);
          else created.resolve();
        })
        .finally(() => {
          if (this.#creatingSegment.get(key) === created) this.#creatingSegment.delete(key);
        }),
    );
    return created.promise;
  }

  async #createSegmentWorker(vchannel: string, partitionId: bigint): Promise<void> {
    const { options, allocator, own, append } = this.#deps;
    // A permanent failure is not reported here: the inserts waiting for the segment end with it, or are
    // rerun and meet its cause themselves (see #ensureSegment).
    await this.#retry(async () => {
      const meta = this.requireCollection(vchannel);
      this.requirePartition(meta, partitionId);
      const segmentId = await allocator.allocate();
      const message = walShardMessages.createSegment(vchannel, {
        collectionId: meta.collectionId,
        partitionId,
        segmentId,
        maxRows: options.segment.maxRows,
        maxBytes: options.segment.maxBytes,
      });
      await append(own.mark(message));
      this.#created.add(1, { pchannel: this.#deps.pchannel });
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
        const message = walShardMessages.flush(segment.vchannel, {
          collectionId: segment.meta.collectionId,
          partitionId: segment.partitionId,
          segmentId: segment.segmentId,
        });
        await this.#deps.append(this.#deps.own.mark(message));
        this.#flushed.add(1, { pchannel: this.#deps.pchannel });
      });
    } catch (error) {
      // The segment stays sealed; the next open re-seals it and writes the Flush then.
      if (!hasCode(error, ...STOPPED)) this.#report(error, false);
    }
  }

  #retry(attempt: () => Promise<void>): Promise<void> {
    const { initialMs, maxMs } = this.#deps.options.workerRetry;
    // What a retry cannot fix (coded not retriable: CLOSED when the WAL closed under the worker), and a
    // node going away (ON_SHUTDOWN), end it.
    const retriable = (error: unknown): boolean =>
      isRetriableFailure(error) && !hasCode(error, 'ON_SHUTDOWN');
    return retryWithBackoff(
      async () => {
        try {
          await attempt();
        } catch (error) {
          if (retriable(error)) this.#report(error, true);
          throw error;
        }
      },
      {
        initialMs,
        maxMs,
        shouldRetry: retriable,
        // Stopped only when its WAL closes: the owner closed it, so CLOSED (not retriable), as the WAL says.
        stopReason: () =>
          this.#stopping.signal.aborted
            ? new WalError(
                'CLOSED',
                `wal of pchannel ${this.#deps.pchannel} was closed: shard work stopped`,
                {
                  retriable: false,
                },
              )
            : undefined,
      },
    );
  }

  #report(error: unknown, retrying: boolean): void {
    this.#deps.observability.reportError({
      error,
      component: 'shard',
      pchannel: this.#deps.pchannel,
      retrying,
    });
  }
}

function unreserve(segment: LiveSegment, rows: number, bytes: number): void {
  segment.reservedRows -= rows;
  segment.reservedBytes -= bytes;
}
