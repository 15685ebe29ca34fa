import type { MessageID, Wal } from '@walstream/core';
import { map, type Observable } from 'rxjs';
import type { RecoveryStorage } from './storage.js';

/** A position in a pchannel's log: a reader from `messageId` sees every message with a timetick ≥ `timeTick`. */
export interface LogPosition {
  readonly messageId: MessageID;
  readonly timeTick: bigint;
}

/** A checkpoint record as the stack saved it to the catalog. */
export interface SavedCheckpoint {
  /** Replay of the derived state (vchannels, segments) starts here at the next open. */
  readonly checkpoint: LogPosition;
  /** Everything below it was durable in every flush sink when the record was saved; absent if never set. */
  readonly flushed: LogPosition | undefined;
}

/**
 * The checkpointing of one WAL built with `walSemantics()`, for the node that owns it (its flusher and its
 * status). The stack stays the one writer of the checkpoint record: a flusher does not save anything
 * itself, it hands its durable position over with {@link advanceFlushed} and learns from {@link saved$}
 * when a record holding it is in the catalog — only then may it truncate below it.
 */
export interface WalCheckpoints {
  /** The timetick of the fencing TimeTick this term wrote first: recovery covered everything below it. */
  readonly recoveryTimeTick: bigint;
  /** The timetick of the last TimeTick sync (what readers can see), once there was one. */
  readonly lastSyncedTimeTick: bigint | undefined;
  /** The flushed position loaded at open (where the previous term's sinks were durable), then as advanced. */
  readonly flushed: LogPosition | undefined;
  /** The record this term saved last (the stack saves once at open, before the first append). */
  readonly saved: SavedCheckpoint | undefined;
  /** Hot: every record saved from now on; completes when the WAL stops checkpointing (closed or fenced). */
  readonly saved$: Observable<SavedCheckpoint>;
  /** Moves the flushed position forward (a lower one is ignored); the next save carries it. */
  advanceFlushed(position: LogPosition): void;
}

interface StackWithRecovery {
  readonly fence: { readonly timeTick: bigint };
  readonly recovery: RecoveryStorage;
}

const stacks = new WeakMap<Wal, StackWithRecovery>();

export function registerStack(wal: Wal, stack: StackWithRecovery): void {
  stacks.set(wal, stack);
}

/**
 * The checkpointing of `wal`, or undefined when it was not built with `walSemantics()` (or not opened
 * yet). Pass the WAL exactly as the opener returned it.
 */
export function walCheckpoints(wal: Wal): WalCheckpoints | undefined {
  const stack = stacks.get(wal);
  if (!stack) return undefined;
  const { recovery } = stack;
  const position = (checkpoint: { lastConfirmed: MessageID; timeTick: bigint }): LogPosition => ({
    messageId: checkpoint.lastConfirmed,
    timeTick: checkpoint.timeTick,
  });
  const saved = (record: NonNullable<RecoveryStorage['saved']>): SavedCheckpoint => ({
    checkpoint: position(record.checkpoint),
    flushed: record.flushed ? position(record.flushed) : undefined,
  });
  return {
    recoveryTimeTick: stack.fence.timeTick,
    get lastSyncedTimeTick() {
      return recovery.lastSyncedTimeTick;
    },
    get flushed() {
      return recovery.flushed ? position(recovery.flushed) : undefined;
    },
    get saved() {
      return recovery.saved ? saved(recovery.saved) : undefined;
    },
    saved$: recovery.saved$.pipe(map(saved)),
    advanceFlushed(at: LogPosition) {
      recovery.advanceFlushed({ lastConfirmed: at.messageId, timeTick: at.timeTick });
    },
  };
}
