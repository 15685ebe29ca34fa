import { type ImmutableMessage, messageTypes, SystemMessageType } from '@walstream/core';
import { ImmutableTxnMessageBuilder } from '@walstream/core/internal';

/**
 * Reader-side ordering for recovery: a reorder buffer released at each TimeTick (core's `ReorderBuffer`
 * by default), and a txn collector that turns a committed txn into one Txn message and drops rolled-back,
 * expired or exclusively-crossed ones. Recovery has its own collector rather than core's `TxnBuffer`
 * because it needs what core's keeps private: the bodies and last activity of each txn still open at the
 * fence (to rebuild sessions and segment references), and the failing of txns an exclusive message crossed.
 */
export interface Reorderer {
  /** Buffers a message; false when it was dropped (duplicate id, or behind what was already released). */
  push(message: ImmutableMessage): boolean;
  /** Everything with a timetick ≤ `timeTick`, ascending. */
  popUntil(timeTick: bigint): ImmutableMessage[];
}

export interface TxnCollector {
  /** Passes plain messages on, collects txn messages, emits a committed txn as one message. */
  push(message: ImmutableMessage, emit: (message: ImmutableMessage) => void): void;
  /** Forgets txns idle past their keepalive at `timeTick`. */
  expire(timeTick: bigint): void;
  /** Txns begun and neither committed, rolled back nor expired. */
  open(): OpenTxn[];
}

/** A txn still open at the end of a replay. */
export interface OpenTxn {
  readonly txnId: bigint;
  readonly vchannel: string;
  readonly keepaliveMs: number;
  readonly begin: ImmutableMessage;
  readonly bodies: readonly ImmutableMessage[];
  readonly lastTimeTick: bigint;
}

interface Collecting {
  readonly builder: ImmutableTxnMessageBuilder;
  readonly bodies: ImmutableMessage[];
  lastTimeTick: bigint;
}

export interface RecoveryTxnBufferOptions {
  /**
   * Drop the open txns an exclusive message crosses, as the writer fails them (lock interceptor). Set for
   * recovery, which must not revive a txn the previous term refused to commit; the name is the pchannel's,
   * whose exclusive messages cross every txn. Readers need not: a failed txn never commits and expires.
   */
  readonly failOnExclusive?: { readonly pchannel: string };
}

/** The txn buffer of §3.5 for recovery: bodies wait for their commit, rollback, expiry or an exclusive message. */
export class RecoveryTxnBuffer implements TxnCollector {
  readonly #open = new Map<bigint, Collecting>();
  readonly #failOnExclusive: { readonly pchannel: string } | undefined;

  constructor(options: RecoveryTxnBufferOptions = {}) {
    this.#failOnExclusive = options.failOnExclusive;
  }

  get size(): number {
    return this.#open.size;
  }

  push(message: ImmutableMessage, emit: (message: ImmutableMessage) => void): void {
    const type = message.messageType;
    const txn = message.txnContext;
    if (type === SystemMessageType.BeginTxn) {
      if (txn && !this.#open.has(txn.txnId)) {
        this.#open.set(txn.txnId, {
          builder: new ImmutableTxnMessageBuilder(message),
          bodies: [],
          lastTimeTick: message.timeTick,
        });
      }
      return;
    }
    if (!txn) {
      if (this.#failOnExclusive && messageTypes.isExclusiveRequired(type))
        this.#failCrossed(message.vchannel);
      emit(message);
      return;
    }
    const collecting = this.#open.get(txn.txnId);
    if (type === SystemMessageType.CommitTxn) {
      if (!collecting) return; // unknown or duplicate commit
      this.#open.delete(txn.txnId);
      emit(collecting.builder.build(message));
      return;
    }
    if (type === SystemMessageType.RollbackTxn) {
      this.#open.delete(txn.txnId);
      return;
    }
    if (!collecting) return; // a body whose begin is unknown (before the replay start, or expired)
    collecting.builder.add(message);
    collecting.bodies.push(message);
    if (message.timeTick > collecting.lastTimeTick) collecting.lastTimeTick = message.timeTick;
  }

  #failCrossed(vchannel: string | undefined): void {
    const everything = vchannel === undefined || vchannel === this.#failOnExclusive!.pchannel;
    for (const [txnId, collecting] of this.#open) {
      if (everything || collecting.builder.begin.vchannel === vchannel) this.#open.delete(txnId);
    }
  }

  expire(timeTick: bigint): void {
    for (const [txnId, collecting] of this.#open) {
      if (collecting.builder.expiredTimeTick() <= timeTick) this.#open.delete(txnId);
    }
  }

  /** Forgets every open txn. */
  clear(): void {
    this.#open.clear();
  }

  open(): OpenTxn[] {
    return [...this.#open.values()].map(({ builder, bodies, lastTimeTick }) => ({
      txnId: builder.txnId,
      vchannel: builder.begin.vchannel ?? '',
      keepaliveMs: builder.begin.txnContext!.keepaliveMs,
      begin: builder.begin,
      bodies: [...bodies],
      lastTimeTick,
    }));
  }
}
