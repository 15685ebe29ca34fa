import {
  DeliverPolicy,
  type ImmutableMessage,
  ImmutableTxnMessage,
  type MessageID,
  physicalMsOf,
  type Scanner,
  SystemMessageType,
  type Wal,
  WalError,
} from '@walstream/core';
import { checkKnownKeys, integerOption } from '@walstream/core/internal';
import type { Observability } from '@walstream/core/spi';
import { type LogPosition, type SavedCheckpoint, walCheckpoints } from '@walstream/interceptors';
import type { Subscription } from 'rxjs';
import type { FlushSink, FlushSinkWriter } from './sink.js';

export interface RetentionOptions {
  /** Truncate what is older than this (by the physical time of its timetick). */
  readonly maxAgeMs?: number;
  /** Truncate the oldest messages once the WAL holds more than this many bytes of them (payload estimate). */
  readonly maxBytes?: number;
}

export interface FlusherOptions {
  /** Where each vchannel's messages go; the WAL is truncated only below what every sink made durable. */
  readonly sinks?: readonly FlushSink[];
  /** Without sinks: how much of the WAL to keep. Without sinks and retention nothing is truncated. */
  readonly retention?: RetentionOptions;
  /** A sink syncs at most this often: one sync covers everything written since the last one. Default 200. */
  readonly syncIntervalMs?: number;
  /** Messages waiting for one sink before the flusher stops reading the WAL. Default 4096. */
  readonly maxPendingMessages?: number;
  /** Read-ahead of the flusher's WAL reader. Default 128. */
  readonly readAhead?: number;
  /** How long closing waits for the sinks' last sync before it gives up on them. Default 5000. */
  readonly closeTimeoutMs?: number;
  /** The wall clock of age retention (tests move it by hand). Default `Date.now`. */
  readonly now?: () => number;
}

export interface ResolvedFlusherOptions {
  readonly sinks: readonly FlushSink[];
  readonly retention: RetentionOptions | undefined;
  readonly syncIntervalMs: number;
  readonly maxPendingMessages: number;
  readonly readAhead: number;
  readonly closeTimeoutMs: number;
  readonly now: () => number;
}

const WHERE = 'flusher';

export function resolveFlusherOptions(options: FlusherOptions): ResolvedFlusherOptions {
  checkKnownKeys(WHERE, options, [
    'sinks',
    'retention',
    'syncIntervalMs',
    'maxPendingMessages',
    'readAhead',
    'closeTimeoutMs',
    'now',
  ]);
  const sinks = options.sinks ?? [];
  if (!Array.isArray(sinks)) throw invalid('sinks must be an array of FlushSink', 'sinks');
  const names = new Set<string>();
  for (const sink of sinks) {
    if (typeof sink?.name !== 'string' || typeof sink.open !== 'function') {
      throw invalid('each sink needs a name and open()', 'sinks');
    }
    if (names.has(sink.name)) throw invalid(`two sinks are named ${JSON.stringify(sink.name)}`, 'sinks');
    names.add(sink.name);
  }
  let retention: RetentionOptions | undefined;
  if (options.retention !== undefined) {
    if (sinks.length > 0) {
      throw invalid(
        'retention applies without sinks only: with sinks the WAL is kept until every sink made it durable',
        'retention',
      );
    }
    checkKnownKeys(WHERE, options.retention, ['maxAgeMs', 'maxBytes'], 'retention.');
    const { maxAgeMs, maxBytes } = options.retention;
    retention = {
      ...(maxAgeMs === undefined
        ? {}
        : { maxAgeMs: integerOption(WHERE, 'retention.maxAgeMs', maxAgeMs, 0) }),
      ...(maxBytes === undefined
        ? {}
        : { maxBytes: integerOption(WHERE, 'retention.maxBytes', maxBytes, 0) }),
    };
    if (retention.maxAgeMs === undefined && retention.maxBytes === undefined) {
      throw invalid('retention needs maxAgeMs or maxBytes', 'retention');
    }
  }
  if (options.now !== undefined && typeof options.now !== 'function')
    throw invalid('now must be a function', 'now');
  return {
    sinks,
    retention,
    syncIntervalMs: integerOption(WHERE, 'syncIntervalMs', options.syncIntervalMs, 200, { min: 0 }),
    maxPendingMessages: integerOption(WHERE, 'maxPendingMessages', options.maxPendingMessages, 4096, {
      min: 1,
    }),
    readAhead: integerOption(WHERE, 'readAhead', options.readAhead, 128, { min: 1 }),
    closeTimeoutMs: integerOption(WHERE, 'closeTimeoutMs', options.closeTimeoutMs, 5000, { min: 0 }),
    now: options.now ?? Date.now,
  };
}

function invalid(message: string, option: string): WalError {
  return new WalError('INVALID_ARGUMENT', `${WHERE}: ${message}`, { retriable: false, details: { option } });
}

/** A running flusher of one WAL. */
export interface WalFlusher {
  /** Where every sink is durable now (undefined until each synced once, and always without sinks). */
  readonly flushed: LogPosition | undefined;
  /** The id the WAL was last truncated at by this flusher. */
  readonly truncatedAt: MessageID | undefined;
  /**
   * Before a graceful close: waits (bounded by `closeTimeoutMs`) until the reader reached the last message
   * appended so far, so `stop()` hands the sinks everything the closing term wrote.
   */
  drain(): Promise<void>;
  /** Stops reading, lets each sink sync what it took (bounded by `closeTimeoutMs`), closes the sinks. */
  stop(): Promise<void>;
}

/** Starts the flusher of `wal` (a read-write WAL built with `walSemantics()`). */
export function startFlusher(
  wal: Wal,
  options: ResolvedFlusherOptions,
  observability: Observability,
): WalFlusher {
  return new Flusher(wal, options, observability);
}

/** A one-shot wake-up: `wait()` settles at the next `open()`. */
class Gate {
  #waiting: { promise: Promise<void>; resolve: () => void } | undefined;

  wait(): Promise<void> {
    if (!this.#waiting) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.#waiting = { promise, resolve };
    }
    return this.#waiting.promise;
  }

  open(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve();
  }
}

/** One sink's queue and worker: writes what the scan hands it, syncs, and reports the durable position. */
class Lane {
  readonly name: string;
  readonly writer: FlushSinkWriter;
  queue: { vchannel: string; message: ImmutableMessage }[] = [];
  /** Everything the scan passed up to here is queued for this sink (or not for it). */
  scanned: LogPosition | undefined;
  /** Everything up to here is durable in this sink. */
  durable: LogPosition | undefined;
  failed = false;
  readonly work = new Gate();
  readonly room = new Gate();
  run: Promise<void> = Promise.resolve();

  constructor(name: string, writer: FlushSinkWriter) {
    this.name = name;
    this.writer = writer;
  }

  get behind(): boolean {
    return this.queue.length > 0 || (this.scanned !== undefined && this.scanned !== this.durable);
  }
}

class Flusher implements WalFlusher {
  readonly #wal: Wal;
  readonly #options: ResolvedFlusherOptions;
  readonly #observability: Observability;
  readonly #checkpoints = () => walCheckpoints(this.#wal);
  #lanes: Lane[] = [];
  #scanner: Scanner | undefined;
  #subscription: Subscription | undefined;
  readonly #running: Promise<void>;
  #stopping = false;
  readonly #stopped = new Gate();
  #stop: Promise<void> | undefined;
  #flushed: LogPosition | undefined;
  #truncatedAt: MessageID | undefined;
  #truncating: Promise<void> = Promise.resolve();
  /** Without sinks: bytes the scan passed, and the ids it passed (one per millisecond) for retention. */
  #bytes = 0;
  /** The highest timetick appended to the WAL, and the highest the reader passed. */
  #lastAppended: bigint | undefined;
  #lastScanned: bigint | undefined;
  readonly #scanned = new Gate();
  readonly #appended: Subscription;
  #samples: { position: LogPosition; bytes: number; physicalMs: number }[] = [];
  /**
   * Without sinks: the last saved checkpoint retention could not cut at yet. The scan may pass the bytes
   * that allow it only after the save (it lags the appends), and an idle WAL saves no more: each new
   * sample tries it again.
   */
  #retentionPending: SavedCheckpoint | undefined;

  constructor(wal: Wal, options: ResolvedFlusherOptions, observability: Observability) {
    this.#wal = wal;
    this.#options = options;
    this.#observability = observability;
    this.#appended = wal.appended$.subscribe(({ timeTick }) => {
      if (this.#lastAppended === undefined || timeTick > this.#lastAppended) this.#lastAppended = timeTick;
    });
    this.#running = this.#run().catch((error) => {
      if (this.#stopping) return;
      this.#observability.reportError({
        error,
        component: 'flusher',
        pchannel: wal.channel.name,
        retrying: false,
      });
    });
  }

  get flushed(): LogPosition | undefined {
    return this.#flushed;
  }

  get truncatedAt(): MessageID | undefined {
    return this.#truncatedAt;
  }

  async #run(): Promise<void> {
    const checkpoints = this.#checkpoints();
    if (!checkpoints) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `flusher of ${this.#wal.channel.name}: the WAL was not built with walSemantics(), so it has no checkpoint to flush against`,
        { retriable: false },
      );
    }
    const from = checkpoints.flushed;
    for (const sink of this.#options.sinks) {
      if (this.#stopping) return;
      const writer = await sink.open(this.#wal.channel);
      if (this.#stopping) {
        // Stopped while it opened: the stop no longer waits for it.
        await writer.close();
        return;
      }
      const lane = new Lane(sink.name, writer);
      this.#lanes.push(lane);
      lane.run = this.#drain(lane);
    }
    if (this.#stopping) return;
    const name = `${this.#wal.channel.name}/${this.#wal.channel.term}/flusher`;
    this.#scanner = await this.#wal.read({
      name,
      deliverPolicy: from ? DeliverPolicy.startFrom(from.messageId) : DeliverPolicy.all(),
      readAheadBufferSize: this.#options.readAhead,
    });
    if (this.#stopping) {
      await this.#scanner.close();
      return;
    }
    this.#subscription = checkpoints.saved$.subscribe((saved) => this.#onSaved(saved));
    for (;;) {
      const next = await this.#scanner.next();
      if (next.done || this.#stopping) return;
      await this.#accept(next.value, from);
      if (next.value.hasTimeTick) {
        this.#lastScanned = next.value.timeTick;
        this.#scanned.open();
      }
    }
  }

  async #accept(message: ImmutableMessage, from: LogPosition | undefined): Promise<void> {
    if (!message.hasTimeTick || !message.hasLastConfirmed) return;
    const timeTick = message.timeTick;
    // Below the flushed position every sink has it already.
    if (from && timeTick <= from.timeTick) return;
    const position: LogPosition = { messageId: message.lastConfirmedId, timeTick };
    if (process.env.DBGF)
      console.log(
        'ACC',
        message.messageType,
        String(message.id),
        String(position.messageId),
        message.persisted,
        timeTick,
        this.#lanes.map((l) => [l.queue.length, String(l.durable?.messageId), l.failed]),
      );
    const vchannel = message.vchannel;
    const isTick = message.messageType === SystemMessageType.TimeTick;
    if (!isTick && vchannel !== undefined) {
      this.#bytes += message.estimateSize();
      for (const lane of this.#lanes) {
        if (lane.failed) continue;
        const held = lane.writer.durable.get(vchannel);
        if (held && timeTick <= held.timeTick) continue;
        while (lane.queue.length >= this.#options.maxPendingMessages && !lane.failed && !this.#stopping) {
          await lane.room.wait();
        }
        if (this.#stopping) return;
        lane.queue.push({ vchannel, message });
      }
    }
    for (const lane of this.#lanes) {
      lane.scanned = position;
      lane.work.open();
    }
    // Without sinks nothing is flushed (a sink added later must still get everything): only sampled, at
    // where the message starts in the log (a txn at its begin, so a cut never splits one) — retention
    // drops what was written before it.
    if (this.#lanes.length === 0) {
      const start = message instanceof ImmutableTxnMessage ? message.begin.id : message.id;
      this.#sample({ messageId: start, timeTick });
    }
  }

  /** One sink's worker: everything queued is written, synced, and then counts as durable up to the scan. */
  async #drain(lane: Lane): Promise<void> {
    for (;;) {
      while (!lane.behind && !lane.failed) {
        if (this.#stopping) return;
        await Promise.race([lane.work.wait(), this.#stopped.wait()]);
      }
      if (lane.failed) return;
      const batch = lane.queue;
      lane.queue = [];
      const upTo = lane.scanned;
      lane.room.open();
      try {
        await writeAndSync(lane.writer, batch);
      } catch (error) {
        // A sink that failed gets nothing more this term; its durable position holds truncation back.
        lane.failed = true;
        lane.queue = [];
        lane.room.open();
        this.#observability.reportError({
          error,
          component: `flusher.sink.${lane.name}`,
          pchannel: this.#wal.channel.name,
          retrying: false,
        });
        return;
      }
      lane.durable = upTo;
      this.#laneAdvanced();
      // Group commit: what arrives meanwhile goes into the next sync.
      if (!this.#stopping && this.#options.syncIntervalMs > 0) {
        await Promise.race([pause(this.#options.syncIntervalMs), this.#stopped.wait()]);
      }
    }
  }

  #laneAdvanced(): void {
    let lowest: LogPosition | undefined;
    for (const lane of this.#lanes) {
      if (!lane.durable) return;
      if (!lowest || lane.durable.timeTick < lowest.timeTick) lowest = lane.durable;
    }
    if (lowest) this.#advance(lowest);
  }

  #advance(position: LogPosition): void {
    if (this.#flushed && position.timeTick <= this.#flushed.timeTick) return;
    this.#flushed = position;
    this.#checkpoints()?.advanceFlushed(position);
  }

  #sample(position: LogPosition): void {
    if (!this.#options.retention) return;
    const last = this.#samples.at(-1);
    // One sample per millisecond is as fine as age retention can tell apart anyway.
    if (last && last.physicalMs === physicalMsOf(position.timeTick)) {
      this.#samples[this.#samples.length - 1] = { ...last, position, bytes: this.#bytes };
      return;
    }
    this.#samples.push({ position, bytes: this.#bytes, physicalMs: physicalMsOf(position.timeTick) });
    const pending = this.#retentionPending;
    if (pending) this.#onSaved(pending);
    // Bounded: thin out the older half when full (truncation only needs a rough ladder of positions).
    if (this.#samples.length > 4096) {
      const older = this.#samples.slice(0, 2048).filter((_, index) => index % 2 === 0);
      this.#samples = [...older, ...this.#samples.slice(2048)];
    }
  }

  /** A checkpoint record reached the catalog: the WAL may go below what it covers. */
  #onSaved(saved: SavedCheckpoint): void {
    let bound: MessageID | undefined;
    if (this.#lanes.length > 0 || this.#options.sinks.length > 0) {
      if (!saved.flushed) return;
      bound = lower(saved.checkpoint.messageId, saved.flushed.messageId);
    } else {
      bound = this.#retentionBound(saved.checkpoint);
      this.#retentionPending = bound ? undefined : saved;
    }
    if (!bound) return;
    if (this.#truncatedAt && bound.compare(this.#truncatedAt) <= 0) return;
    const at = bound;
    this.#truncatedAt = at;
    this.#truncating = this.#truncating.then(async () => {
      try {
        await this.#wal.truncate(at);
      } catch (error) {
        if (this.#stopping) return;
        this.#observability.reportError({
          error,
          component: 'flusher.truncate',
          pchannel: this.#wal.channel.name,
          retrying: true,
        });
      }
    });
  }

  /** The newest sampled position that retention lets go of and the saved checkpoint covers. */
  #retentionBound(checkpoint: LogPosition): MessageID | undefined {
    const retention = this.#options.retention;
    if (!retention) return undefined;
    const now = this.#options.now();
    let chosen = -1;
    this.#samples.forEach((sample, index) => {
      if (sample.position.timeTick > checkpoint.timeTick) return;
      if (sample.position.messageId.compare(checkpoint.messageId) > 0) return;
      const old = retention.maxAgeMs !== undefined && sample.physicalMs <= now - retention.maxAgeMs;
      const big = retention.maxBytes !== undefined && this.#bytes - sample.bytes >= retention.maxBytes;
      if (old || big) chosen = index;
    });
    if (chosen < 0) return undefined;
    const sample = this.#samples[chosen]!;
    this.#samples = this.#samples.slice(chosen + 1);
    return sample.position.messageId;
  }

  async drain(): Promise<void> {
    const target = this.#lastAppended;
    if (target === undefined) return;
    const bound = pause(this.#options.closeTimeoutMs).then(() => true);
    while (!this.#stopping && (this.#lastScanned === undefined || this.#lastScanned < target)) {
      if (await Promise.race([this.#scanned.wait().then(() => false), bound])) return;
    }
  }

  stop(): Promise<void> {
    this.#stop ??= (async () => {
      this.#appended.unsubscribe();
      this.#stopping = true;
      this.#stopped.open();
      for (const lane of this.#lanes) lane.room.open();
      await this.#scanner?.close();
      // Within one bound: a sink's open that hangs, then the sinks' last sync; a stalled one is left behind.
      const bound = pause(this.#options.closeTimeoutMs).then(() => true);
      const started = await Promise.race([this.#running.then(() => false), bound]);
      this.#subscription?.unsubscribe();
      const drained = Promise.all(this.#lanes.map((lane) => this.#finalSync(lane)));
      const timedOut = started || (await Promise.race([drained.then(() => false), bound]));
      if (timedOut) {
        this.#observability.reportError({
          error: new WalError(
            'TIMEOUT',
            `flusher sinks did not sync within ${this.#options.closeTimeoutMs} ms`,
          ),
          component: 'flusher',
          pchannel: this.#wal.channel.name,
          retrying: false,
        });
      }
      await this.#truncating;
      await Promise.allSettled(this.#lanes.map((lane) => lane.writer.close()));
    })();
    return this.#stop;
  }

  async #finalSync(lane: Lane): Promise<void> {
    await lane.run;
    if (lane.failed || !lane.behind) return;
    const batch = lane.queue;
    lane.queue = [];
    const upTo = lane.scanned;
    try {
      await writeAndSync(lane.writer, batch);
      lane.durable = upTo;
      this.#laneAdvanced();
    } catch (error) {
      lane.failed = true;
      this.#observability.reportError({
        error,
        component: `flusher.sink.${lane.name}`,
        pchannel: this.#wal.channel.name,
        retrying: false,
      });
    }
  }
}

/** Writes a batch, each vchannel's messages in one call and in order, then syncs once. */
async function writeAndSync(
  writer: FlushSinkWriter,
  batch: readonly { vchannel: string; message: ImmutableMessage }[],
): Promise<void> {
  if (batch.length === 0) return;
  const byVChannel = new Map<string, ImmutableMessage[]>();
  for (const { vchannel, message } of batch) {
    const messages = byVChannel.get(vchannel);
    if (messages) messages.push(message);
    else byVChannel.set(vchannel, [message]);
  }
  for (const [vchannel, messages] of byVChannel) await writer.write(vchannel, messages);
  await writer.sync();
}

function lower(a: MessageID, b: MessageID): MessageID {
  return a.compare(b) <= 0 ? a : b;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
}
