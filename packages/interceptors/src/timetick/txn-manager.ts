import { WalError } from '@walstream/core';
import { TxnSession } from './txn-session.js';

export interface TxnManagerOptions {
  /** Keepalive of a txn whose BeginTxn asks for 0 (checked by the semantics options). */
  readonly defaultKeepaliveMs: number;
}

/** A txn rebuilt from the log on open: its begin was written by an earlier term and it may still commit. */
export interface RecoveredTxn {
  readonly txnId: bigint;
  readonly vchannel: string;
  readonly keepaliveMs: number;
  readonly beginTimeTick: bigint;
  readonly lastTimeTick: bigint;
}

/**
 * The open txns of one WAL, by id: the writer side of transactions, run by the timeTick interceptor (which
 * gives their messages timeticks and holds the LC behind their begins).
 */
export class TxnManager {
  readonly defaultKeepaliveMs: number;
  readonly #sessions = new Map<bigint, TxnSession>();
  #closing = false;

  constructor(options: TxnManagerOptions) {
    this.defaultKeepaliveMs = options.defaultKeepaliveMs;
  }

  get size(): number {
    return this.#sessions.size;
  }

  sessions(): TxnSession[] {
    return [...this.#sessions.values()];
  }

  /**
   * The keepalive a BeginTxn asked for: 0 means the default, anything else below 1 ms (or not an integer)
   * is INVALID_ARGUMENT.
   */
  resolveKeepalive(requested: number): number {
    if (requested === 0) return this.defaultKeepaliveMs;
    if (!Number.isInteger(requested) || requested < 1) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `txn keepalive must be 0 (default) or an integer number of milliseconds ≥ 1, got ${String(requested)}`,
      );
    }
    return requested;
  }

  /** Opens a txn. Its id is the begin's timetick: unique on this pchannel across terms. */
  begin(vchannel: string, keepaliveMs: number, beginTimeTick: bigint): TxnSession {
    if (this.#closing)
      throw new WalError('TRANSACTION_EXPIRED', 'txn manager is closing: start the txn elsewhere');
    const session = new TxnSession(beginTimeTick, vchannel, keepaliveMs, beginTimeTick);
    this.#sessions.set(session.txnId, session);
    return session;
  }

  recover(txns: readonly RecoveredTxn[]): TxnSession[] {
    return txns.map((txn) => {
      const session = new TxnSession(
        txn.txnId,
        txn.vchannel,
        txn.keepaliveMs,
        txn.beginTimeTick,
        txn.lastTimeTick,
      );
      this.#sessions.set(session.txnId, session);
      return session;
    });
  }

  /** The open txn `txnId`; TRANSACTION_EXPIRED when it is unknown (expired and cleaned up, or never begun here). */
  get(txnId: bigint): TxnSession {
    const session = this.#sessions.get(txnId);
    if (!session) {
      throw new WalError(
        'TRANSACTION_EXPIRED',
        `txn ${txnId} is not open on this WAL (expired, finished or unknown)`,
        {
          details: { txnId },
        },
      );
    }
    return session;
  }

  /** Forgets a txn whose begin could not be written. */
  abandon(session: TxnSession, reason: string): void {
    session.fail(reason);
    this.#sessions.delete(session.txnId);
  }

  /** Removes every txn that can no longer commit at `timeTick` (called on each TimeTick). */
  cleanupUntil(timeTick: bigint): void {
    for (const [txnId, session] of this.#sessions) {
      session.expireAt(timeTick);
      if (session.isExpiredOrDone(timeTick)) this.#sessions.delete(txnId);
    }
  }

  /**
   * Fails every open txn of `vchannel` (every txn when undefined): an exclusive message was appended there,
   * and a txn may not straddle it. Their next message gets TRANSACTION_EXPIRED; clients retry with a new
   * txn. `final` when the exclusive message landed; when its append failed it may not be in the log, so the
   * txns stay "may still commit" (for the LC and recovery) until they expire, though refused here.
   */
  failAtVChannel(vchannel: string | undefined, reason: string, final = true): number {
    let failed = 0;
    for (const [txnId, session] of this.#sessions) {
      if (vchannel !== undefined && session.vchannel !== vchannel) continue;
      if (session.isDone) continue;
      if (!session.isRefused) failed++;
      // A txn refused earlier for an uncertain cause becomes final once a landed exclusive message crosses it.
      session.fail(reason, final);
      if (final) this.#sessions.delete(txnId);
    }
    return failed;
  }

  /** New txns are refused from now on. */
  close(): void {
    this.#closing = true;
  }
}
