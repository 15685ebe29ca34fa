import { WalError } from '@walstream/core';
import type { WriteAheadBufferOptions } from './wab/write-ahead-buffer.js';

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

export interface ShardOptions {
  /**
   * Messages on a vchannel that was never created (CreateCollection) are rejected. Default true; false
   * admits messages of non-shard types on unknown vchannels (a dropped vchannel is rejected either way).
   */
  readonly requireVChannel?: boolean;
  readonly segment?: SegmentPolicy;
  /** Backoff of the WAL's own CreateSegment and Flush appends. Default 10 ms doubling to 1 s. */
  readonly workerRetry?: { readonly initialMs: number; readonly maxMs: number };
}

export interface RecoveryOptions {
  /** Persist the checkpoint at least this often while it moves. Default 10 s. */
  readonly persistIntervalMs?: number;
  /** ... or as soon as this many messages were applied since the last persist. Default 100. */
  readonly maxDirtyMessages?: number;
  /** Read-ahead of the replay reader. Default 128. */
  readonly replayReadAhead?: number;
}

/** Options of the whole semantics stack; every builder of one stack must get the same object. */
export interface SemanticsOptions {
  readonly timeTick?: TimeTickOptions;
  readonly wab?: Omit<WriteAheadBufferOptions, 'now'>;
  readonly txn?: TxnOptions;
  readonly redo?: RedoOptions;
  readonly shard?: ShardOptions;
  readonly recovery?: RecoveryOptions;
  /** Wall clock in ms (WAB keepalive, segment age); injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Background failures that are retried (a TimeTick, a checkpoint, a Flush); silent by default. */
  readonly onError?: (error: unknown, where: 'timeTick' | 'shard' | 'recovery') => void;
}

export interface ResolvedOptions {
  readonly syncGapMs: number;
  readonly maxPendingAcks: number;
  readonly idleTickIntervalMs: number;
  readonly closeTimeoutMs: number;
  readonly wab: WriteAheadBufferOptions;
  readonly defaultKeepaliveMs: number;
  readonly maxRedoAttempts: number;
  readonly requireVChannel: boolean;
  readonly segment: Required<SegmentPolicy>;
  readonly workerRetry: { readonly initialMs: number; readonly maxMs: number };
  readonly persistIntervalMs: number;
  readonly maxDirtyMessages: number;
  readonly replayReadAhead: number;
  readonly now: () => number;
}

export function resolveOptions(options: SemanticsOptions = {}): ResolvedOptions {
  const now = options.now ?? Date.now;
  return {
    syncGapMs: atLeast('timetick.syncGapMs', options.timeTick?.syncGapMs ?? 1, 0),
    maxPendingAcks: atLeast('timetick.maxPendingAcks', options.timeTick?.maxPendingAcks ?? 256, 1),
    idleTickIntervalMs: atLeast(
      'timetick.idleTickIntervalMs',
      options.timeTick?.idleTickIntervalMs ?? 100,
      1,
    ),
    closeTimeoutMs: atLeast('timetick.closeTimeoutMs', options.timeTick?.closeTimeoutMs ?? 3_000, 0),
    wab: { ...options.wab, now },
    defaultKeepaliveMs: atLeast('txn.defaultKeepaliveMs', options.txn?.defaultKeepaliveMs ?? 10_000, 1),
    maxRedoAttempts: atLeast('redo.maxAttempts', options.redo?.maxAttempts ?? 1_000, 1),
    requireVChannel: options.shard?.requireVChannel ?? true,
    segment: {
      maxRows: atLeast('shard.segment.maxRows', options.shard?.segment?.maxRows ?? 1_000_000, 1),
      maxBytes: atLeast('shard.segment.maxBytes', options.shard?.segment?.maxBytes ?? 128 * 1024 * 1024, 1),
      maxAgeMs: atLeast('shard.segment.maxAgeMs', options.shard?.segment?.maxAgeMs ?? 600_000, 1),
      checkIntervalMs: atLeast(
        'shard.segment.checkIntervalMs',
        options.shard?.segment?.checkIntervalMs ?? 1_000,
        1,
      ),
    },
    workerRetry: options.shard?.workerRetry ?? { initialMs: 10, maxMs: 1_000 },
    persistIntervalMs: atLeast(
      'recovery.persistIntervalMs',
      options.recovery?.persistIntervalMs ?? 10_000,
      1,
    ),
    maxDirtyMessages: atLeast('recovery.maxDirtyMessages', options.recovery?.maxDirtyMessages ?? 100, 1),
    replayReadAhead: atLeast('recovery.replayReadAhead', options.recovery?.replayReadAhead ?? 128, 1),
    now,
  };
}

function atLeast(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `semantics option ${name} must be a number ≥ ${min}, got ${String(value)}`,
    );
  }
  return value;
}
