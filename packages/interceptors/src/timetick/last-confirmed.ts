import type { MessageID } from '@walstream/core';
import { MinHeap } from '@walstream/core/internal';

/** What the last-confirmed manager needs to know about a txn: whether it can still commit. */
export interface TxnLiveness {
  isExpiredOrDone(timeTick: bigint): boolean;
}

/** A successfully appended message, as the last-confirmed manager tracks it. */
export interface ConfirmedEntry {
  readonly id: MessageID;
  /**
   * The newest timetick allocated when the message was acknowledged. Once every allocation up to here is
   * acknowledged, every message with a smaller id has been acknowledged too (it completed before this one,
   * so it was allocated before this ack).
   */
  readonly endTimeTick: bigint;
  readonly txn: TxnLiveness | undefined;
}

/**
 * Tracks the last-confirmed id (LC): a position from which a reader sees every message allocated later
 * and every txn that may still commit.
 *
 * Entries wait in a heap by id. The head is released only when (a) it is safe — every allocation up to
 * its `endTimeTick` is acknowledged, so nothing with a smaller id can still arrive — and (b) it is not
 * part of a txn that may still commit. The LC is the largest released id.
 *
 * The original releases entries when they become safe in ack order, not in id order, so an entry with a
 * larger id can be released while a smaller-id txn begin is acknowledged late; here the heap head decides,
 * which keeps the LC behind every open txn's begin whatever the ack interleaving.
 */
export class LastConfirmedManager {
  readonly #pending = new MinHeap<ConfirmedEntry>((a, b) => a.id.compare(b.id) < 0);
  #lastConfirmed: MessageID;
  #marshalled: string;

  constructor(initial: MessageID) {
    this.#lastConfirmed = initial;
    this.#marshalled = initial.marshal();
  }

  get lastConfirmed(): MessageID {
    return this.#lastConfirmed;
  }

  /** The LC as written to `_lc`, cached: every append stamps it. */
  get marshalled(): string {
    return this.#marshalled;
  }

  /** Entries held back (for metrics and tests). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  add(entry: ConfirmedEntry): void {
    this.#pending.push(entry);
  }

  /** Releases what `confirmedTimeTick` (every allocation up to it acknowledged) allows. */
  advance(confirmedTimeTick: bigint): void {
    let moved = false;
    for (;;) {
      const head = this.#pending.peek();
      if (!head || head.endTimeTick > confirmedTimeTick) break;
      if (head.txn && !head.txn.isExpiredOrDone(confirmedTimeTick)) break;
      this.#pending.pop();
      if (head.id.compare(this.#lastConfirmed) > 0) {
        this.#lastConfirmed = head.id;
        moved = true;
      }
    }
    if (moved) this.#marshalled = this.#lastConfirmed.marshal();
  }
}
