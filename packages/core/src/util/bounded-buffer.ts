import { WalError } from '../errors/wal-error.js';

interface Waiter<T> {
  resolve(value: T): void;
}

/**
 * A FIFO with a fixed capacity between one producer and one consumer. The producer waits for room, so a
 * slow consumer stops the producer instead of growing memory. A failure is delivered after the items
 * already buffered.
 */
export class BoundedBuffer<T> {
  readonly capacity: number;
  readonly #items: T[] = [];
  #head = 0;
  #ended = false;
  #failure: unknown;
  #consumerWaiter: Waiter<void> | undefined;
  #producerWaiters: Waiter<boolean>[] = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new WalError('INVALID_ARGUMENT', `buffer capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Adds the item if there is room now; false when full or ended. */
  tryPush(item: T): boolean {
    if (this.#ended || this.size >= this.capacity) return false;
    this.#items.push(item);
    this.#wakeConsumer();
    return true;
  }

  /** Adds the item once there is room; resolves false (and drops it) if the buffer ended meanwhile. */
  async push(item: T): Promise<boolean> {
    while (!this.tryPush(item)) {
      if (this.#ended) return false;
      const hasRoom = await new Promise<boolean>((resolve) => this.#producerWaiters.push({ resolve }));
      if (!hasRoom) return false;
    }
    return true;
  }

  /** The next item; `done` once ended and drained. Rethrows a failure after the buffered items. */
  async pull(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.size > 0) {
        const item = this.#items[this.#head]!;
        this.#items[this.#head++] = undefined as T;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items.splice(0, this.#head);
          this.#head = 0;
        }
        this.#wakeProducer(true);
        return { value: item, done: false };
      }
      if (this.#ended) {
        if (this.#failure !== undefined) throw this.#failure;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => {
        this.#consumerWaiter = { resolve };
      });
    }
  }

  /** No more items: the consumer drains what is buffered, then sees the end. */
  end(): void {
    this.#finish();
  }

  /** Ends with a failure that the consumer sees after the buffered items. The first failure wins. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#failure = error;
    this.#finish();
  }

  /** Ends now and drops what is buffered (the consumer went away). */
  clear(): void {
    this.#items.length = 0;
    this.#head = 0;
    this.#finish();
  }

  #finish(): void {
    this.#ended = true;
    this.#wakeConsumer();
    const waiters = this.#producerWaiters;
    this.#producerWaiters = [];
    for (const waiter of waiters) waiter.resolve(false);
  }

  #wakeConsumer(): void {
    const waiter = this.#consumerWaiter;
    this.#consumerWaiter = undefined;
    waiter?.resolve();
  }

  #wakeProducer(hasRoom: boolean): void {
    this.#producerWaiters.shift()?.resolve(hasRoom);
  }
}
