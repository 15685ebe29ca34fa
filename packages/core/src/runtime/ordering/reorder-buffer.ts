import type { ImmutableMessage } from '../../message/message.js';
import { MinHeap } from './min-heap.js';

function before(a: ImmutableMessage, b: ImmutableMessage): boolean {
  return a.timeTick < b.timeTick || (a.timeTick === b.timeTick && a.id.compare(b.id) < 0);
}

/**
 * Holds messages until a TimeTick says every message up to its timetick has arrived, then releases them
 * in timetick order. Duplicates (by id) and messages older than what was already released are refused.
 */
export class ReorderBuffer {
  readonly #heap = new MinHeap<ImmutableMessage>(before);
  readonly #ids = new Set<string>();
  #lastReleased = -1n;

  get size(): number {
    return this.#heap.size;
  }

  /** False when the message is a duplicate or would break the order already released. */
  push(message: ImmutableMessage): boolean {
    if (message.timeTick < this.#lastReleased) return false;
    const key = message.id.marshal();
    if (this.#ids.has(key)) return false;
    this.#ids.add(key);
    this.#heap.push(message);
    return true;
  }

  /** Every held message with a timetick ≤ `timeTick`, ascending. */
  popUntil(timeTick: bigint): ImmutableMessage[] {
    const released: ImmutableMessage[] = [];
    for (let head = this.#heap.peek(); head && head.timeTick <= timeTick; head = this.#heap.peek()) {
      this.#heap.pop();
      this.#ids.delete(head.id.marshal());
      released.push(head);
    }
    if (timeTick > this.#lastReleased) this.#lastReleased = timeTick;
    return released;
  }
}
