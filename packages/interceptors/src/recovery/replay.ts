import {
  DeliverPolicy,
  type ImmutableMessage,
  type MessageID,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import { ReorderBuffer } from '@walstream/core/internal';
import { abortError, type InterceptorBuildParams } from '@walstream/core/spi';
import type { ShardState } from '../shard/state.js';
import type { OpenTxn, RecoveryTxnBuffer } from './txn-buffer.js';

export interface ReplayOptions {
  readonly readRaw: InterceptorBuildParams['readRaw'];
  readonly name: string;
  /** Where to start: the checkpoint's last-confirmed id, or the whole log when there is no checkpoint. */
  readonly from: MessageID | undefined;
  /** Effects of messages at or below this timetick are already in `state`. */
  readonly checkpointTimeTick: bigint;
  /** The TimeTick this term wrote first: the replay ends there. */
  readonly fence: ImmutableMessage;
  readonly state: ShardState;
  readonly txns: RecoveryTxnBuffer;
  readonly readAhead: number;
  /** The caller's: aborting it ends the replay with ABORTED. */
  readonly signal?: AbortSignal;
}

export interface ReplayResult {
  /** Messages read from the store. */
  readonly read: number;
  /** Messages (a txn counts once) whose effects were applied. */
  readonly applied: number;
  /** Txns open at the fence: they may still commit in this term. */
  readonly openTxns: OpenTxn[];
}

/**
 * Replays the log from the checkpoint to the fencing TimeTick, in timetick order with txns at their
 * commit (as a reader would see it), applying what the checkpointed state does not have yet.
 *
 * Everything goes through the txn buffer, even messages at or below the checkpoint: a txn that began
 * before the checkpoint and commits after it needs its begin and bodies, and one that committed before it
 * must be recognised as finished rather than left looking open.
 */
export async function replayToFence(options: ReplayOptions): Promise<ReplayResult> {
  const { state, txns, fence, checkpointTimeTick } = options;
  const reorder = new ReorderBuffer();
  let read = 0;
  let applied = 0;
  const apply = (message: ImmutableMessage): void => {
    if (message.timeTick <= checkpointTimeTick) return;
    state.apply(message);
    applied++;
  };
  const release = (timeTick: bigint): void => {
    for (const message of reorder.popUntil(timeTick)) txns.push(message, apply);
    txns.expire(timeTick);
  };

  const scanner = await options.readRaw({
    name: options.name,
    deliverPolicy: options.from ? DeliverPolicy.startFrom(options.from) : DeliverPolicy.all(),
    readAheadBufferSize: options.readAhead,
  });
  let reachedFence = false;
  try {
    for await (const message of scanner) {
      if (options.signal?.aborted) throw abortError(options.signal, 'recovery replay');
      read++;
      const position = message.id.compare(fence.id);
      if (position > 0) {
        throw new WalError(
          'UNRECOVERABLE',
          `recovery replay passed the fencing TimeTick ${fence.id.toString()} without meeting it`,
        );
      }
      if (position === 0) {
        reachedFence = true;
        break;
      }
      // Messages written without a timetick cannot be ordered; nothing this package wrote lacks one.
      if (!message.hasTimeTick) continue;
      if (message.messageType === SystemMessageType.TimeTick) release(message.timeTick);
      else reorder.push(message);
    }
  } finally {
    await scanner.close();
  }
  if (!reachedFence) throw new WalError('UNRECOVERABLE', 'recovery replay ended before the fencing TimeTick');
  // The fence's timetick is above everything an earlier term wrote: release it all.
  release(fence.timeTick);
  return { read, applied, openTxns: txns.open() };
}
