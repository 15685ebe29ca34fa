import type { ImmutableMessage } from '../../message/message.js';
import { SystemMessageType } from '../../message/message-type.js';
import { ImmutableTxnMessageBuilder } from '../../message/txn-message.js';

/**
 * Turns a timetick-ordered stream into what readers may see of transactions: a committed txn becomes one
 * Txn message at its commit, a rolled-back or expired one disappears, plain messages pass through.
 */
export class TxnBuffer {
  readonly #open = new Map<bigint, ImmutableTxnMessageBuilder>();

  /** Open transactions, for recovery (those that may still commit). */
  get pending(): readonly ImmutableTxnMessageBuilder[] {
    return [...this.#open.values()];
  }

  /**
   * Feeds a batch released by one TimeTick; `now` is that tick's timetick, at which idle transactions
   * expire.
   */
  handle(batch: readonly ImmutableMessage[], now: bigint): ImmutableMessage[] {
    const out: ImmutableMessage[] = [];
    for (const message of batch) {
      const type = message.messageType;
      const txn = message.txnContext;
      if (type === SystemMessageType.BeginTxn && txn) {
        // A duplicate begin (a retried append) keeps the first builder and its bodies.
        if (!this.#open.has(txn.txnId)) this.#open.set(txn.txnId, new ImmutableTxnMessageBuilder(message));
      } else if (type === SystemMessageType.CommitTxn && txn) {
        const builder = this.#open.get(txn.txnId);
        // Unknown: a duplicate commit, or a txn that already expired. Either way nothing to deliver.
        if (builder) {
          this.#open.delete(txn.txnId);
          out.push(builder.build(message));
        }
      } else if (type === SystemMessageType.RollbackTxn && txn) {
        this.#open.delete(txn.txnId);
      } else if (txn) {
        this.#open.get(txn.txnId)?.add(message);
      } else {
        out.push(message);
      }
    }
    for (const [txnId, builder] of this.#open) if (builder.expiredTimeTick() <= now) this.#open.delete(txnId);
    return out;
  }
}
