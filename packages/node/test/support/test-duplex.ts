import type { DuplexStream } from '../../src/services/stream.js';

/**
 * The transport side of a bidi stream, in memory: the test pushes requests and reads responses. Sends can
 * be held (a client that stops reading) to show what the service does under backpressure.
 */
export class TestDuplex<Req, Res> implements DuplexStream<Req, Res> {
  readonly responses: Res[] = [];
  readonly #queue: Req[] = [];
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #held: (() => void)[] = [];
  #holding = false;
  #listeners: (() => void)[] = [];
  /** Sends waiting because the client "does not read". */
  pendingSends = 0;

  push(request: Req): void {
    this.#queue.push(request);
    this.#wake?.();
  }

  /** Half-close: the iterator ends after the queued requests. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** The client vanished: the iterator throws, later sends reject. */
  fail(error = new Error('client disappeared')): void {
    this.#failure = error;
    this.#wake?.();
    for (const release of this.#held.splice(0)) release();
  }

  hold(): void {
    this.#holding = true;
  }

  release(): void {
    this.#holding = false;
    for (const release of this.#held.splice(0)) release();
  }

  /** Requests pushed but not yet read by the service. */
  get unread(): number {
    return this.#queue.length;
  }

  async send(response: Res): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#holding) {
      this.pendingSends++;
      await new Promise<void>((resolve) => this.#held.push(resolve));
      this.pendingSends--;
      if (this.#failure) throw this.#failure;
    }
    this.responses.push(response);
    for (const listener of this.#listeners.splice(0)) listener();
  }

  /** Resolves once `predicate` holds on the responses (bounded). */
  async until(
    predicate: (responses: readonly Res[]) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.responses)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.#listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Req> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      const next = this.#queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
