import type { ImmutableMessage } from '../../message/message.js';
import { SystemProperty } from '../../message/properties.js';
import { MinHeap } from './min-heap.js';

/**
 * What identifies one append: its timetick and the term that wrote it. The same message read twice (where
 * a reader switches sources) has the same key; so has a retried append that landed twice — its first
 * attempt was written but its acknowledgement lost — under another id. Two different appends never share
 * a timetick within a term.
 */
function appendKey(message: ImmutableMessage): string {
  return `${message.timeTick}/${message.properties[SystemProperty.walTerm] ?? ''}`;
}

/** A held append: the copy to deliver, replaceable by a later copy of the same append. */
interface Held {
  message: ImmutableMessage;
  readonly timeTick: bigint;
  readonly key: string;
}

function before(a: Held, b: Held): boolean {
  return a.timeTick < b.timeTick || (a.timeTick === b.timeTick && a.key < b.key);
}

/**
 * Holds messages until a TimeTick says every message up to its timetick has arrived, then releases them
 * in timetick order. Messages older than what was already released are refused, and so are duplicates
 * (same append, see {@link appendKey}): of the copies of a retried append the last one written is kept,
 * since that is the one whose append was acknowledged (attempts run one after the other).
 */
export class ReorderBuffer {
  readonly #heap = new MinHeap<Held>(before);
  readonly #held = new Map<string, Held>();
  #lastReleased = -1n;

  get size(): number {
    return this.#heap.size;
  }

  /** The timetick of the last release (the newest tick seen); -1 before the first. */
  get lastReleased(): bigint {
    return this.#lastReleased;
  }

  /** False when the message is a duplicate or would break the order already released. */
  push(message: ImmutableMessage): boolean {
    const timeTick = message.timeTick;
    if (timeTick < this.#lastReleased) return false;
    const key = appendKey(message);
    const held = this.#held.get(key);
    if (held) {
      if (message.id.compare(held.message.id) > 0) held.message = message;
      return false;
    }
    const entry: Held = { message, timeTick, key };
    this.#held.set(key, entry);
    this.#heap.push(entry);
    return true;
  }

  /** Every held message with a timetick ≤ `timeTick`, ascending. */
  popUntil(timeTick: bigint): ImmutableMessage[] {
    const released: ImmutableMessage[] = [];
    for (let head = this.#heap.peek(); head && head.timeTick <= timeTick; head = this.#heap.peek()) {
      this.#heap.pop();
      this.#held.delete(head.key);
      released.push(head.message);
    }
    if (timeTick > this.#lastReleased) this.#lastReleased = timeTick;
    return released;
  }
}
