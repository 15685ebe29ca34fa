import type { MessageID, MutableMessage } from '@walstream/core';

/**
 * Messages the WAL writes itself (TimeTicks, CreateSegment, Flush). Users may not append those types; the
 * interceptors tell the WAL's own by identity, which no caller can forge.
 */
export class OwnMessages {
  readonly #own = new WeakSet<MutableMessage>();
  readonly #skip = new WeakMap<MutableMessage, MessageID>();

  mark<T extends MutableMessage>(message: T): T {
    this.#own.add(message);
    return message;
  }

  /** A non-persisted tick: the final append returns `id` (the tick's LC) without writing. */
  markNotPersisted<T extends MutableMessage>(message: T, id: MessageID): T {
    this.#own.add(message);
    this.#skip.set(message, id);
    return message;
  }

  isOwn(message: MutableMessage): boolean {
    return this.#own.has(message);
  }

  skipWriteFor(message: MutableMessage): MessageID | undefined {
    return this.#skip.get(message);
  }
}
