import { type TxnContext, TxnState, WalError } from '@walstream/core';
import { abortable, addMilliseconds, INFINITE_KEEPALIVE_MS, MAX_TIMETICK } from '@walstream/core/internal';
import { abortError } from '@walstream/core/spi';
import { Notifier } from '../util/signal.js';

/**
 * One open transaction on one vchannel, as the writer tracks it: its state, its in-flight body appends
 * and its keepalive. Timeticks drive expiry: the txn expires when a message of it (or the TimeTick that
 * cleans up) arrives at or past `lastTimeTick + keepalive`.
 */
export class TxnSession {
  readonly txnId: bigint;
  readonly vchannel: string;
  readonly keepaliveMs: number;
  readonly beginTimeTick: bigint;
  readonly context: TxnContext;
  #state: TxnState = TxnState.InFlight;
  #lastTimeTick: bigint;
  #inFlight = 0;
  #expired = false;
  /** Why the txn can no longer proceed, when something other than expiry ended it. */
  #failure: string | undefined;
  /**
   * The failure is visible in the log (an exclusive message crossed the txn), so the txn is over for
   * readers and recovery too. A failed commit append is not: the commit may have landed, or a later term
   * may still commit the txn, so until it expires it counts as "may still commit".
   */
  #failureFinal = false;
  readonly #settled = new Notifier();
  #onDone: (() => void)[] = [];

  constructor(
    txnId: bigint,
    vchannel: string,
    keepaliveMs: number,
    beginTimeTick: bigint,
    lastTimeTick = beginTimeTick,
  ) {
    this.txnId = txnId;
    this.vchannel = vchannel;
    this.keepaliveMs = keepaliveMs;
    this.beginTimeTick = beginTimeTick;
    this.#lastTimeTick = lastTimeTick;
    this.context = Object.freeze({ txnId, keepaliveMs });
  }

  get state(): TxnState {
    return this.#state;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get lastTimeTick(): bigint {
    return this.#lastTimeTick;
  }

  /** The timetick at which the idle txn expires. */
  get expiresAt(): bigint {
    return this.keepaliveMs === INFINITE_KEEPALIVE_MS
      ? MAX_TIMETICK
      : addMilliseconds(this.#lastTimeTick, this.keepaliveMs);
  }

  /** Committed, rolled back, failed, or idle past its keepalive at `timeTick`: it can never commit now. */
  isExpiredOrDone(timeTick: bigint): boolean {
    return this.isDone || this.#expired || timeTick >= this.expiresAt;
  }

  /** Finished for good, as readers and recovery will see it too (not counting expiry by time). */
  get isDone(): boolean {
    return this.#state === TxnState.Committed || this.#state === TxnState.RolledBack || this.#failureFinal;
  }

  /** No further message of the txn is accepted here (done, or failed in a way only this WAL knows). */
  get isRefused(): boolean {
    return this.isDone || this.#failure !== undefined;
  }

  /** A body message at `timeTick` joins the txn; call {@link bodyDone} when its append settled. */
  addBody(timeTick: bigint): void {
    this.#checkAlive(timeTick);
    if (this.#state !== TxnState.InFlight) throw this.#stateError('append a message to');
    this.#inFlight++;
  }

  bodyDone(timeTick: bigint, appended: boolean): void {
    this.#inFlight--;
    // Only a landed message refreshes the keepalive: a failed one never reaches a reader.
    if (appended && timeTick > this.#lastTimeTick) this.#lastTimeTick = timeTick;
    this.#settled.notify();
  }

  /**
   * Moves to OnCommit (or OnRollback) and waits until no body append is in flight. Aborting the wait
   * returns the txn to InFlight: nothing was written, so the caller may try again.
   */
  async finish(kind: 'commit' | 'rollback', signal: AbortSignal | undefined): Promise<void> {
    this.#checkAlive(undefined);
    if (this.#state !== TxnState.InFlight) throw this.#stateError(kind);
    this.#state = kind === 'commit' ? TxnState.OnCommit : TxnState.OnRollback;
    try {
      while (this.#inFlight > 0) {
        await abortable(this.#settled.wait(), signal, () =>
          abortError(signal, `${kind} of txn ${this.txnId}`),
        );
        if (this.#failure !== undefined) this.#checkAlive(undefined);
      }
    } catch (error) {
      if (this.#state === TxnState.OnCommit || this.#state === TxnState.OnRollback) {
        if (this.#failure === undefined) this.#state = TxnState.InFlight;
      }
      throw error;
    }
  }

  /** The commit (or rollback) message got its timetick: it must still be inside the keepalive. */
  checkFinishTimeTick(timeTick: bigint): void {
    this.#checkAlive(timeTick);
  }

  /**
   * The commit (or rollback) append settled. A failed one may still have landed (e.g. aborted mid-write):
   * this WAL refuses the txn from now on, but it stays "may still commit" until it expires.
   */
  finished(appended: boolean): void {
    if (appended) {
      this.#state = this.#state === TxnState.OnCommit ? TxnState.Committed : TxnState.RolledBack;
      this.#settle();
    } else {
      this.#failure ??= 'its commit or rollback append failed';
      this.#settled.notify();
    }
  }

  /**
   * Refuses every later message of the txn (TRANSACTION_EXPIRED with `reason`). `final` when the cause is
   * in the log (an exclusive message that landed crossed the txn): the txn is then over for readers and
   * recovery too. Otherwise (the cause may not have landed) it counts as "may still commit" until it expires.
   */
  fail(reason: string, final = true): void {
    if (this.isDone) return;
    this.#failure ??= reason;
    if (!final) {
      this.#settled.notify();
      return;
    }
    this.#failureFinal = true;
    this.#settle();
  }

  /** Marks the txn expired (sticky) if `timeTick` is past its keepalive; true if it is expired. */
  expireAt(timeTick: bigint): boolean {
    if (!this.#expired && !this.isDone && timeTick >= this.expiresAt) {
      this.#expired = true;
      this.#settle();
    }
    return this.#expired;
  }

  /** Runs `callback` once the txn is done or expired (at once if it already is). */
  onDone(callback: () => void): void {
    if (this.isDone || this.#expired) callback();
    else this.#onDone.push(callback);
  }

  #settle(): void {
    this.#settled.notify();
    const callbacks = this.#onDone;
    this.#onDone = [];
    for (const callback of callbacks) callback();
  }

  #checkAlive(timeTick: bigint | undefined): void {
    if (this.#failure !== undefined) {
      throw new WalError('TRANSACTION_EXPIRED', `txn ${this.txnId} can no longer proceed: ${this.#failure}`, {
        details: { txnId: this.txnId },
      });
    }
    if (this.#state === TxnState.Committed || this.#state === TxnState.RolledBack) return;
    if (timeTick !== undefined) this.expireAt(timeTick);
    if (this.#expired) {
      throw new WalError(
        'TRANSACTION_EXPIRED',
        `txn ${this.txnId} expired: idle for more than its keepalive of ${this.keepaliveMs} ms`,
        { details: { txnId: this.txnId } },
      );
    }
  }

  #stateError(what: string): WalError {
    const name =
      Object.entries(TxnState).find(([, value]) => value === this.#state)?.[0] ?? String(this.#state);
    return new WalError('INVALID_TRANSACTION_STATE', `cannot ${what} txn ${this.txnId}: it is ${name}`, {
      details: { txnId: this.txnId, state: this.#state },
    });
  }
}
