import type { BatchObservableCallback, Meter } from '@opentelemetry/api';
import {
  type AppendResult,
  appendOutcome,
  composeTimeTick,
  DeliverFilter,
  DeliverPolicy,
  hasCode,
  type MutableMessage,
  physicalMsOf,
  type Wal,
  WalError,
} from '@walstream/core';
import { checkKnownKeys, integerOption } from '@walstream/core/internal';
import { decodeBase36, encodeBase36, type Observability, toWalError } from '@walstream/core/spi';
import { type WalCheckpoints, walCheckpoints } from '@walstream/interceptors';
import { ManagedWal } from '../wal-manager/managed-wal.js';
import { type DedupBounds, DedupWindow, type ProducerSequence } from './window.js';

/** Where an idempotent append's identity is kept in the log, so the next owner can rebuild the window. */
export const PRODUCER_ID_PROPERTY = '_pid';
export const PRODUCER_SEQUENCE_PROPERTY = '_psq';

/** The bounds of the node's deduplication of idempotent appends (the `idempotence` option of `startNode`). */
export interface IdempotenceOptions {
  /** Sequences remembered per producer and pchannel (default 4096; keep it above the appends in flight). */
  readonly maxSequences?: number;
  /**
   * How long an append's answer is remembered (default 600 000 ms). A repeat that comes later is not
   * recognised; keep it above the client's append timeout.
   */
  readonly maxAgeMs?: number;
  /** Producers remembered per pchannel (default 10 000); the least recently active leaves first. */
  readonly maxProducers?: number;
  /** The longest a rebuild from the log may take before the appends waiting for it fail UNAVAILABLE (default 30 000 ms). */
  readonly rebuildTimeoutMs?: number;
}

export interface ResolvedIdempotence extends DedupBounds {
  readonly rebuildTimeoutMs: number;
}

const OPTION_KEYS = ['maxSequences', 'maxAgeMs', 'maxProducers', 'rebuildTimeoutMs'];

export function resolveIdempotence(
  where: string,
  options: IdempotenceOptions | undefined,
): ResolvedIdempotence {
  checkKnownKeys(where, options, OPTION_KEYS, 'idempotence.');
  const o = options ?? {};
  return {
    maxSequences: integerOption(where, 'idempotence.maxSequences', o.maxSequences, 4096, { max: 1 << 20 }),
    maxAgeMs: integerOption(where, 'idempotence.maxAgeMs', o.maxAgeMs, 600_000),
    maxProducers: integerOption(where, 'idempotence.maxProducers', o.maxProducers, 10_000),
    rebuildTimeoutMs: integerOption(where, 'idempotence.rebuildTimeoutMs', o.rebuildTimeoutMs, 30_000),
  };
}

const PRODUCER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Each read gets its own reader name: some stores (Pulsar) subscribe by it. */
let readerCounter = 0;

/** Checks an identity that came over the wire: INVALID_ARGUMENT, not retriable, nothing written. */
export function checkProducerSequence(key: ProducerSequence): void {
  if (!PRODUCER_ID.test(key.producerId)) {
    throw invalid(`producer id ${JSON.stringify(key.producerId)} is not 1-64 characters of A-Z a-z 0-9 _ -`);
  }
  if (key.sequence < 1n) throw invalid('an idempotent append needs a sequence of 1 or more');
}

/** Codes the WAL answers only for an append it did not write (when `details.written` does not say). */
const NOT_WRITTEN = [
  'CHANNEL_FENCED',
  'INVALID_ARGUMENT',
  'VCHANNEL_NOT_FOUND',
  'VCHANNEL_DROPPED',
  'READ_ONLY',
  'CAPACITY_EXCEEDED',
  'RATE_LIMIT_REJECTED',
] as const;

interface WalDedup {
  window: DedupWindow | undefined;
  /** The window an unknown outcome made stale: what it has in flight moves to the rebuilt one. */
  stale: DedupWindow | undefined;
  building: Promise<DedupWindow> | undefined;
  /** The last sync timetick seen when an append failed with its outcome unknown; a rebuild reads past it. */
  unknownAfter: bigint | undefined;
}

export interface IdempotenceStats {
  /** Repeats answered with the first append's result instead of a write. */
  readonly duplicates: number;
  /** Windows read from the log (one per WAL at its first idempotent append, one per unknown outcome). */
  readonly rebuilds: number;
}

/**
 * Idempotent appends for every WAL of a node. Each WAL (one pchannel at one term) gets its own
 * {@link DedupWindow}, built at its first idempotent append from the log itself.
 *
 * Why the log and not the checkpoint: each idempotent append carries its producer id and sequence as
 * properties (`_pid`, `_psq`), so whatever a previous owner wrote — even an append whose acknowledgement
 * it never sent — is in the log the next owner reads, and nothing else has to be written or saved for the
 * window to survive a move. The new owner reads from the oldest message still kept, with a timetick filter
 * of `maxAgeMs` below its fencing TimeTick, up to that TimeTick: every message of an older term is below
 * it, and every later idempotent append goes through this window. The cost is one scan of the kept log per
 * term, paid by the first idempotent append (bounded by retention or the flusher's truncation); what the
 * store no longer keeps cannot be deduplicated.
 */
export class IdempotentAppends {
  readonly #options: ResolvedIdempotence;
  readonly #observability: Observability;
  readonly #clock: () => number;
  readonly #wals = new WeakMap<Wal, WalDedup>();
  #duplicates = 0;
  #rebuilds = 0;

  constructor(options: ResolvedIdempotence, observability: Observability, clock: () => number = Date.now) {
    this.#options = options;
    this.#observability = observability;
    this.#clock = clock;
  }

  stats(): IdempotenceStats {
    return { duplicates: this.#duplicates, rebuilds: this.#rebuilds };
  }

  /**
   * Appends `message` once per `key` within the window: a repeat gets the first append's result (waiting
   * for it while it is in flight). Outside the window → INVALID_REQUEST_SEQ, not retriable.
   */
  async append(wal: Wal, message: MutableMessage, key: ProducerSequence): Promise<AppendResult> {
    checkProducerSequence(key);
    if (message.properties._tx !== undefined) {
      throw invalid('idempotent appends are for messages outside a transaction');
    }
    message
      .withProperty(PRODUCER_ID_PROPERTY, key.producerId)
      .withProperty(PRODUCER_SEQUENCE_PROPERTY, encodeBase36(key.sequence));
    let dedup = this.#wals.get(wal);
    if (!dedup) {
      dedup = { window: undefined, stale: undefined, building: undefined, unknownAfter: undefined };
      this.#wals.set(wal, dedup);
    }
    // A round ends in an answer, or goes again after the append it waited for did not land or left its
    // outcome unknown (then the window is read again from the log). Each cause can recur only so often.
    for (let round = 0; round < 8; round++) {
      const window = dedup.window ?? (await this.#window(wal, dedup));
      const admission = window.admit(key, this.#clock());
      if (admission.kind === 'done') {
        this.#duplicates++;
        return admission.result;
      }
      if (admission.kind === 'pending') {
        const outcome = await admission.settled;
        if (typeof outcome !== 'string') {
          this.#duplicates++;
          return outcome;
        }
        continue;
      }
      if (admission.kind === 'unknown') {
        if (dedup.window === window) {
          dedup.stale = window;
          dedup.window = undefined;
        }
        continue;
      }
      try {
        const result = await wal.append(message);
        admission.settle(result);
        return result;
      } catch (error) {
        const failure = toWalError(error);
        const notWritten = appendOutcome(failure) === 'not-written' || hasCode(failure, ...NOT_WRITTEN);
        if (!notWritten) {
          const synced = checkpointsOf(wal)?.lastSyncedTimeTick ?? 0n;
          dedup.unknownAfter =
            dedup.unknownAfter === undefined || synced > dedup.unknownAfter ? synced : dedup.unknownAfter;
        }
        admission.fail(notWritten ? 'not-written' : 'unknown');
        throw error;
      }
    }
    throw new WalError(
      'UNAVAILABLE',
      `idempotent append ${key.producerId}#${key.sequence} found no stable answer`,
      {
        details: { pchannel: wal.channel.name, written: 'unknown' },
      },
    );
  }

  /** The WAL's window, read from the log first when it has none (one read at a time, shared). */
  #window(wal: Wal, dedup: WalDedup): Promise<DedupWindow> {
    if (dedup.window) return Promise.resolve(dedup.window);
    if (!dedup.building) {
      const building = this.#rebuild(wal, dedup.unknownAfter).then(
        (rebuilt) => {
          dedup.stale?.handOverTo(rebuilt);
          dedup.stale = undefined;
          dedup.window = rebuilt;
          dedup.building = undefined;
          return rebuilt;
        },
        (error: unknown) => {
          dedup.building = undefined;
          throw error;
        },
      );
      building.catch(() => {});
      dedup.building = building;
    }
    // No signal of its own: the read ends within rebuildTimeoutMs, or when the WAL closes under it.
    return dedup.building;
  }

  async #rebuild(wal: Wal, unknownAfter: bigint | undefined): Promise<DedupWindow> {
    const checkpoints = checkpointsOf(wal);
    if (!checkpoints) {
      throw invalid(`idempotent appends need the WAL of ${wal.channel.name} built with walSemantics()`);
    }
    const deadline = AbortSignal.timeout(this.#options.rebuildTimeoutMs);
    const upTo =
      unknownAfter === undefined
        ? checkpoints.recoveryTimeTick
        : await nextSync(wal, checkpoints, unknownAfter, deadline);
    const now = this.#clock();
    const from = composeTimeTick(Math.max(0, physicalMsOf(upTo) - this.#options.maxAgeMs));
    const window = new DedupWindow(this.#options);
    const scanner = await wal.read({
      name: `dedup-${wal.channel.name}-${wal.channel.term}-${++readerCounter}`,
      deliverPolicy: DeliverPolicy.all(),
      filters: [DeliverFilter.timeTickGTE(from)],
      signal: deadline,
    });
    let loaded = 0;
    try {
      for await (const message of scanner) {
        if (message.timeTick >= upTo) break;
        const producerId = message.properties[PRODUCER_ID_PROPERTY];
        const sequence = message.properties[PRODUCER_SEQUENCE_PROPERTY];
        if (producerId === undefined || sequence === undefined) continue;
        window.load(
          { producerId, sequence: decodeBase36(sequence, PRODUCER_SEQUENCE_PROPERTY) },
          { messageId: message.id, timeTick: message.timeTick },
          physicalMsOf(message.timeTick),
          now,
        );
        loaded++;
      }
    } catch (error) {
      if (deadline.aborted) throw rebuildTimeout(wal, this.#options.rebuildTimeoutMs);
      throw error;
    } finally {
      await scanner[Symbol.asyncDispose]();
    }
    if (deadline.aborted) throw rebuildTimeout(wal, this.#options.rebuildTimeoutMs);
    this.#rebuilds++;
    this.#observability.logger.debug?.(
      {
        pchannel: wal.channel.name,
        term: wal.channel.term.toString(),
        loaded,
        producers: window.producerCount,
      },
      'idempotence window rebuilt from the log',
    );
    return window;
  }
}

/**
 * The node's idempotence figures as OpenTelemetry instruments (read when the meter collects):
 *
 * | instrument | kind | unit | meaning |
 * |---|---|---|---|
 * | `walstream.node.produce.duplicates` | counter | {append} | repeats answered with the first append's result, not written |
 * | `walstream.node.idempotence.rebuilds` | counter | {read} | deduplication windows read from the log |
 *
 * Returns the function that unregisters them.
 */
export function observeIdempotence(meter: Meter, appends: IdempotentAppends): () => void {
  const duplicates = meter.createObservableCounter('walstream.node.produce.duplicates', {
    unit: '{append}',
    description: "Repeats of idempotent appends answered with the first append's result instead of a write",
  });
  const rebuilds = meter.createObservableCounter('walstream.node.idempotence.rebuilds', {
    unit: '{read}',
    description: 'Deduplication windows read from the log',
  });
  const observables = [duplicates, rebuilds];
  const callback: BatchObservableCallback = (result) => {
    const stats = appends.stats();
    result.observe(duplicates, stats.duplicates);
    result.observe(rebuilds, stats.rebuilds);
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}

function checkpointsOf(wal: Wal): WalCheckpoints | undefined {
  return wal instanceof ManagedWal ? wal.checkpoints : walCheckpoints(wal);
}

/**
 * A sync timetick above `after`: every append that failed before it was taken has a lower timetick, so a
 * read up to it shows whether that append landed. The WAL syncs on its own; this waits for the next one.
 */
async function nextSync(
  wal: Wal,
  checkpoints: WalCheckpoints,
  after: bigint,
  deadline: AbortSignal,
): Promise<bigint> {
  for (;;) {
    const synced = checkpoints.lastSyncedTimeTick;
    if (synced !== undefined && synced > after) return synced;
    if (wal.state !== 'available') {
      throw new WalError(
        'ON_SHUTDOWN',
        `${wal.channel.name} at term ${wal.channel.term} stopped before its log could tell`,
        {
          details: { pchannel: wal.channel.name, term: wal.channel.term, written: 'unknown' },
        },
      );
    }
    if (deadline.aborted) throw rebuildTimeout(wal, 0);
    // A bounded poll of the WAL's own sync: it moves every timetick interval.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function rebuildTimeout(wal: Wal, ms: number): WalError {
  return new WalError(
    'UNAVAILABLE',
    `reading the idempotence window of ${wal.channel.name} from its log took over ${ms} ms`,
    {
      details: { pchannel: wal.channel.name, written: 'unknown' },
    },
  );
}

function invalid(message: string): WalError {
  return new WalError('INVALID_ARGUMENT', message, { retriable: false, details: { written: false } });
}
