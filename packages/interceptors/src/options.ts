import { booleanOption, checkKnownKeys, functionOption, integerOption } from '@walstream/core/internal';

export interface TimeTickOptions {
  /**
   * After an acknowledged append, wait this long for more before writing the TimeTick that makes them
   * visible, so a burst shares one tick. Default 1 ms (the original ticks every 200 ms).
   */
  readonly syncGapMs?: number;
  /**
   * Sync at once, without waiting for the gap, when this many acks are pending: bounds the backlog and
   * keeps appends visible under a producer that never yields to timers. Default 256.
   */
  readonly maxPendingAcks?: number;
  /** While nothing is appended, send a non-persisted tick this often so readers see time move. Default 100 ms. */
  readonly idleTickIntervalMs?: number;
  /** On close, how long to wait for in-flight appends before the final TimeTick. Default 3 s. */
  readonly closeTimeoutMs?: number;
}

export interface WabOptions {
  /** Most bytes (estimated message sizes) kept; older messages are evicted first. Default 64 MiB. */
  readonly capacityBytes?: number;
  /** How long a message stays at least; older ones are evicted. Default 30 s. */
  readonly keepaliveMs?: number;
}

export interface TxnOptions {
  /** Keepalive of a txn that asks for 0. Default 10 s. */
  readonly defaultKeepaliveMs?: number;
}

export interface RedoOptions {
  /** Reruns of one append before it fails UNAVAILABLE (a guard against livelock). Default 1000. */
  readonly maxAttempts?: number;
}

export interface SegmentPolicy {
  /** A growing segment is sealed once it holds this many rows. Default 1 000 000. */
  readonly maxRows?: number;
  /** ... or this many bytes (insert binary sizes). Default 128 MiB. */
  readonly maxBytes?: number;
  /** ... or once it is this old (by its CreateSegment timetick). Default 10 min. */
  readonly maxAgeMs?: number;
  /** How often the age rule is checked. Default 1 s. */
  readonly checkIntervalMs?: number;
}

export interface WorkerRetryOptions {
  /** First pause after a failed attempt. Default 10 ms. */
  readonly initialMs?: number;
  /** The pause doubles up to this. Default 1 s. */
  readonly maxMs?: number;
}

export interface ShardOptions {
  /**
   * Messages on a vchannel that was never created are refused (VCHANNEL_NOT_FOUND). Default true; false
   * admits messages of non-shard types on unknown vchannels (a dropped vchannel is refused either way).
   */
  readonly requireVChannel?: boolean;
  readonly segment?: SegmentPolicy;
  /** Backoff of the WAL's own CreateSegment and Flush appends. Default 10 ms doubling to 1 s. */
  readonly workerRetry?: WorkerRetryOptions;
}

export interface RecoveryOptions {
  /** Persist the checkpoint at least this often while it moves. Default 10 s. */
  readonly persistIntervalMs?: number;
  /** ... or as soon as this many messages were applied since the last persist. Default 100. */
  readonly maxDirtyMessages?: number;
  /** Read-ahead of the replay reader. Default 128. */
  readonly replayReadAhead?: number;
}

/**
 * Options of the whole semantics stack; every builder of one stack must get the same object. Logging,
 * metrics and background failures go through the stack's observability (`createWal({ logger,
 * meterProvider, onError })`).
 */
export interface SemanticsOptions {
  readonly timeTick?: TimeTickOptions;
  readonly wab?: WabOptions;
  readonly txn?: TxnOptions;
  readonly redo?: RedoOptions;
  readonly shard?: ShardOptions;
  readonly recovery?: RecoveryOptions;
  /** Wall clock in ms (WAB keepalive, segment age); injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
}

export interface ResolvedOptions {
  readonly syncGapMs: number;
  readonly maxPendingAcks: number;
  readonly idleTickIntervalMs: number;
  readonly closeTimeoutMs: number;
  readonly wab: { readonly capacityBytes: number; readonly keepaliveMs: number; readonly now: () => number };
  readonly defaultKeepaliveMs: number;
  readonly maxRedoAttempts: number;
  readonly requireVChannel: boolean;
  readonly segment: Required<SegmentPolicy>;
  readonly workerRetry: Required<WorkerRetryOptions>;
  readonly persistIntervalMs: number;
  readonly maxDirtyMessages: number;
  readonly replayReadAhead: number;
  readonly now: () => number;
}

export const DEFAULT_TXN_KEEPALIVE_MS = 10_000;

const KEYS = {
  root: ['timeTick', 'wab', 'txn', 'redo', 'shard', 'recovery', 'now'],
  timeTick: ['syncGapMs', 'maxPendingAcks', 'idleTickIntervalMs', 'closeTimeoutMs'],
  wab: ['capacityBytes', 'keepaliveMs'],
  txn: ['defaultKeepaliveMs'],
  redo: ['maxAttempts'],
  shard: ['requireVChannel', 'segment', 'workerRetry'],
  segment: ['maxRows', 'maxBytes', 'maxAgeMs', 'checkIntervalMs'],
  workerRetry: ['initialMs', 'maxMs'],
  recovery: ['persistIntervalMs', 'maxDirtyMessages', 'replayReadAhead'],
} as const satisfies Record<string, readonly string[]>;

/**
 * Checks every option (unknown keys included, at every level) and fills the defaults. `where` is the
 * function the options were given to, so the error names it (INVALID_ARGUMENT naming the option).
 */
export function resolveOptions(options: SemanticsOptions | undefined, where: string): ResolvedOptions {
  checkKnownKeys(where, options, KEYS.root);
  const { timeTick, wab, txn, redo, shard, recovery } = options ?? {};
  checkKnownKeys(where, timeTick, KEYS.timeTick, 'timeTick.');
  checkKnownKeys(where, wab, KEYS.wab, 'wab.');
  checkKnownKeys(where, txn, KEYS.txn, 'txn.');
  checkKnownKeys(where, redo, KEYS.redo, 'redo.');
  checkKnownKeys(where, shard, KEYS.shard, 'shard.');
  checkKnownKeys(where, shard?.segment, KEYS.segment, 'shard.segment.');
  checkKnownKeys(where, shard?.workerRetry, KEYS.workerRetry, 'shard.workerRetry.');
  checkKnownKeys(where, recovery, KEYS.recovery, 'recovery.');

  const int = (name: string, value: unknown, fallback: number, min = 1): number =>
    integerOption(where, name, value, fallback, { min });
  const now = functionOption<() => number>(where, 'now', options?.now) ?? Date.now;
  const initialMs = int('shard.workerRetry.initialMs', shard?.workerRetry?.initialMs, 10);
  return {
    syncGapMs: int('timeTick.syncGapMs', timeTick?.syncGapMs, 1, 0),
    maxPendingAcks: int('timeTick.maxPendingAcks', timeTick?.maxPendingAcks, 256),
    idleTickIntervalMs: int('timeTick.idleTickIntervalMs', timeTick?.idleTickIntervalMs, 100),
    closeTimeoutMs: int('timeTick.closeTimeoutMs', timeTick?.closeTimeoutMs, 3_000, 0),
    wab: {
      capacityBytes: int('wab.capacityBytes', wab?.capacityBytes, 64 * 1024 * 1024),
      keepaliveMs: int('wab.keepaliveMs', wab?.keepaliveMs, 30_000),
      now,
    },
    defaultKeepaliveMs: int('txn.defaultKeepaliveMs', txn?.defaultKeepaliveMs, DEFAULT_TXN_KEEPALIVE_MS),
    maxRedoAttempts: int('redo.maxAttempts', redo?.maxAttempts, 1_000),
    requireVChannel: booleanOption(where, 'shard.requireVChannel', shard?.requireVChannel, true),
    segment: {
      maxRows: int('shard.segment.maxRows', shard?.segment?.maxRows, 1_000_000),
      maxBytes: int('shard.segment.maxBytes', shard?.segment?.maxBytes, 128 * 1024 * 1024),
      maxAgeMs: int('shard.segment.maxAgeMs', shard?.segment?.maxAgeMs, 600_000),
      checkIntervalMs: int('shard.segment.checkIntervalMs', shard?.segment?.checkIntervalMs, 1_000),
    },
    workerRetry: {
      initialMs,
      // A ceiling below the first pause would make the backoff shrink: refused like any bad value.
      maxMs: int('shard.workerRetry.maxMs', shard?.workerRetry?.maxMs, Math.max(1_000, initialMs), initialMs),
    },
    persistIntervalMs: int('recovery.persistIntervalMs', recovery?.persistIntervalMs, 10_000),
    maxDirtyMessages: int('recovery.maxDirtyMessages', recovery?.maxDirtyMessages, 100),
    replayReadAhead: int('recovery.replayReadAhead', recovery?.replayReadAhead, 128),
    now,
  };
}
