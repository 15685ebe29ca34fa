import { type ImmutableMessage, messageTypes, SystemMessageType } from '@walstream/core';
import { ImmutableTxnMessageBuilder } from '@walstream/core/internal';

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

/**
 * The txn buffer of recovery: bodies wait for their commit (then one Txn message goes on), a rollback, an
 * expiry or an exclusive message that crosses them. Recovery has its own rather than core's `TxnBuffer`
 * because it needs what core's keeps private: the bodies and last activity of each txn still open at the
 * fence (to rebuild sessions and segment reservations), and the failing of txns an exclusive message
 * crossed.
 */
export class RecoveryTxnBuffer {
  readonly #open = new Map<bigint, Collecting>();
  readonly #failOnExclusive: { readonly pchannel: string } | undefined;

  constructor(options: RecoveryTxnBufferOptions = {}) {
    this.#failOnExclusive = options.failOnExclusive;
  }

  get size(): number {
    return this.#open.size;
  }

  /** Passes plain messages on, collects txn messages, emits a committed txn as one message. */
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

  /** Forgets txns idle past their keepalive at `timeTick`. */
  expire(timeTick: bigint): void {
    for (const [txnId, collecting] of this.#open) {
      if (collecting.builder.expiredTimeTick() <= timeTick) this.#open.delete(txnId);
    }
  }

  /** Forgets every open txn. */
  clear(): void {
    this.#open.clear();
  }

  /** Txns begun and neither committed, rolled back, expired nor crossed. */
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
