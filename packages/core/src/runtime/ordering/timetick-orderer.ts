import type { ImmutableMessage } from '../../message/message.js';
import { SystemMessageType } from '../../message/message-type.js';
import { ReorderBuffer } from './reorder-buffer.js';
import { TxnBuffer } from './txn-buffer.js';

/**
 * The reader-side ordering of a WAL that writes TimeTicks: messages wait in a reorder buffer until a
 * TimeTick covers them, then go through the txn buffer in timetick order. Each TimeTick is delivered
 * after what it released, so "after a tick at X, everything with tt ≤ X was delivered" holds.
 */
export class TimeTickOrderer {
  readonly reorder = new ReorderBuffer();
  readonly txns = new TxnBuffer();
  /** Messages refused: duplicates, messages older than an already released tick, repeated ticks. */
  refused = 0;

  /** Takes one message in arrival order; returns what may now be delivered, in timetick order. */
  accept(message: ImmutableMessage): ImmutableMessage[] {
    if (message.messageType !== SystemMessageType.TimeTick) {
      if (!this.reorder.push(message)) this.refused++;
      return [];
    }
    // Ticks come in increasing timetick order; one at or below the last is a retried tick append that
    // landed twice, and was delivered already.
    if (message.timeTick <= this.reorder.lastReleased) {
      this.refused++;
      return [];
    }
    const released = this.txns.handle(this.reorder.popUntil(message.timeTick), message.timeTick);
    // A tick that was not written only keeps time moving: deliver it when it is the only news.
    if (message.persisted || released.length === 0) released.push(message);
    return released;
  }
}
