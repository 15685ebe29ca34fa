import { type ImmutableMessage, type MessageID, type TimestampAllocator, WalError } from '@walstream/core';
import { Deque } from '../util/deque.js';
import { LastConfirmedManager, type TxnLiveness } from './last-confirmed.js';

/** How one allocation ended, as the TimeTick sync sees it. */
export interface AckDetail {
  readonly beginTimeTick: bigint;
  /** The newest timetick allocated when this one was acknowledged. */
  readonly endTimeTick: bigint;
  /** The LC when the timetick was allocated (what the message carries in `_lc`). */
  readonly lastConfirmed: MessageID;
  /** An allocation of the sync itself (time moves on), not a message. */
  readonly sync: boolean;
  /** The appended message; undefined for sync allocations and failed appends. */
  readonly message: ImmutableMessage | undefined;
  readonly failed: boolean;
  /** A failed append that may be in the log all the same (its outcome is unknown, or it was written). */
  readonly mayHaveLanded: boolean;
}

/** One allocated timetick, acknowledged exactly once. */
export class Acker {
  readonly timeTick: bigint;
  readonly lastConfirmed: MessageID;
  /** `_lc` of the message, marshalled once at allocation. */
  readonly lastConfirmedText: string;
  acknowledged = false;
  detail: AckDetail | undefined;

  constructor(timeTick: bigint, lastConfirmed: MessageID, lastConfirmedText: string) {
    this.timeTick = timeTick;
    this.lastConfirmed = lastConfirmed;
    this.lastConfirmedText = lastConfirmedText;
  }
}

export type AckOutcome =
  | { readonly kind: 'appended'; readonly message: ImmutableMessage; readonly txn?: TxnLiveness }
  | { readonly kind: 'failed'; readonly mayHaveLanded?: boolean }
  | { readonly kind: 'sync' };

export interface AckManagerOptions {
  readonly allocator: TimestampAllocator;
  /** LC before any message of this term is acknowledged: the fencing TimeTick, or an open txn's begin. */
  readonly initialLastConfirmed: MessageID;
  /** Begins of txns recovered open: the LC may not pass them until they are done. */
  readonly recoveredTxns?: readonly { readonly beginId: MessageID; readonly txn: TxnLiveness }[];
  /** The timetick of the fencing TimeTick: every allocation must be above it. */
  readonly floorTimeTick?: bigint;
  /** Called after each acknowledgement of a message (not of a sync allocation). */
  readonly onAck?: () => void;
}

/**
 * Allocates timeticks and learns when each is acknowledged (appended or failed). It derives:
 * - the confirmed timetick: the largest allocation such that every allocation up to it is acknowledged
 *   (the tick a TimeTick sync may announce);
 * - the acknowledged details in timetick order, for the sync and the write-ahead buffer;
 * - the last-confirmed id, through {@link LastConfirmedManager}.
 *
 * Allocations are handed out in increasing order, so the not-acknowledged set is a FIFO rather than the
 * original's heap.
 */
export class AckManager {
  readonly #allocator: TimestampAllocator;
  readonly #outstanding = new Deque<Acker>();
  readonly #lastConfirmed: LastConfirmedManager;
  readonly #onAck: (() => void) | undefined;
  #details: AckDetail[] = [];
  #lastAllocated: bigint;
  #confirmedTimeTick: bigint;
  #queue: Promise<unknown> | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(options: AckManagerOptions) {
    this.#allocator = options.allocator;
    this.#onAck = options.onAck;
    this.#lastAllocated = options.floorTimeTick ?? 0n;
    this.#confirmedTimeTick = this.#lastAllocated;
    this.#lastConfirmed = new LastConfirmedManager(options.initialLastConfirmed);
    for (const recovered of options.recoveredTxns ?? []) {
      this.#lastConfirmed.add({
        id: recovered.beginId,
        endTimeTick: this.#lastAllocated,
        txn: recovered.txn,
      });
    }
  }

  get lastConfirmed(): MessageID {
    return this.#lastConfirmed.lastConfirmed;
  }

  /** Every allocation up to this timetick is acknowledged. */
  get confirmedTimeTick(): bigint {
    return this.#confirmedTimeTick;
  }

  get lastAllocated(): bigint {
    return this.#lastAllocated;
  }

  /** Allocations not acknowledged yet. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** Successful appends the LC manager still holds back (behind an open txn or an in-flight append). */
  get heldBack(): number {
    return this.#lastConfirmed.pendingCount;
  }

  /**
   * A new timetick, above every earlier one. Synchronous when the allocator answers from memory (the
   * common case), so the hot path pays no extra turn.
   */
  allocate(barrier?: bigint): Acker | Promise<Acker> {
    if (this.#queue === undefined && barrier === undefined) {
      const now = this.#allocator.allocateNow?.();
      if (now !== undefined) return this.#register(now);
    }
    // Allocations that need I/O are serialised, so the FIFO stays in timetick order.
    const run = (this.#queue ?? Promise.resolve()).then(async () => {
      if (barrier !== undefined) await this.#allocator.barrierUntil(barrier);
      return this.#register(await this.#allocator.allocate());
    });
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queue = tail;
    void tail.then(() => {
      if (this.#queue === tail) this.#queue = undefined;
    });
    return run;
  }

  ack(acker: Acker, outcome: AckOutcome): void {
    if (acker.acknowledged) throw new WalError('INNER', `timetick ${acker.timeTick} acknowledged twice`);
    acker.acknowledged = true;
    const endTimeTick = this.#lastAllocated;
    acker.detail = {
      beginTimeTick: acker.timeTick,
      endTimeTick,
      lastConfirmed: acker.lastConfirmed,
      sync: outcome.kind === 'sync',
      message: outcome.kind === 'appended' ? outcome.message : undefined,
      failed: outcome.kind === 'failed',
      mayHaveLanded: outcome.kind === 'failed' && outcome.mayHaveLanded === true,
    };
    if (outcome.kind === 'appended') {
      this.#lastConfirmed.add({ id: outcome.message.id, endTimeTick, txn: outcome.txn });
    }
    this.#popAcknowledgedPrefix();
    if (outcome.kind !== 'sync') this.#onAck?.();
  }

  /**
   * Allocates and acknowledges a sync timetick (so time moves on even when idle), then takes the details
   * acknowledged since the last call, in timetick order. Synchronous when the allocation is.
   */
  syncAndTakeAcknowledged(): AckDetail[] | Promise<AckDetail[]> {
    const finish = (acker: Acker): AckDetail[] => {
      this.ack(acker, { kind: 'sync' });
      return this.takeAcknowledged();
    };
    const allocated = this.allocate();
    return allocated instanceof Promise ? allocated.then(finish) : finish(allocated);
  }

  takeAcknowledged(): AckDetail[] {
    const details = this.#details;
    this.#details = [];
    return details;
  }

  /** Resolves once no allocation is outstanding. */
  whenIdle(): Promise<void> {
    if (this.#outstanding.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #register(timeTick: bigint): Acker {
    if (timeTick <= this.#lastAllocated) {
      throw new WalError(
        'INNER',
        `timestamp allocator went backwards: ${timeTick} after ${this.#lastAllocated}`,
      );
    }
    this.#lastAllocated = timeTick;
    const acker = new Acker(timeTick, this.#lastConfirmed.lastConfirmed, this.#lastConfirmed.marshalled);
    this.#outstanding.push(acker);
    return acker;
  }

  #popAcknowledgedPrefix(): void {
    let head = this.#outstanding.peek();
    if (!head?.acknowledged) return;
    while (head?.acknowledged) {
      this.#outstanding.shift();
      this.#details.push(head.detail!);
      this.#confirmedTimeTick = head.timeTick;
      head = this.#outstanding.peek();
    }
    this.#lastConfirmed.advance(this.#confirmedTimeTick);
    if (this.#outstanding.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}
