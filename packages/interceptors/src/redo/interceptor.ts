import { type MessageID, type MutableMessage, WalError } from '@walstream/core';
import { type AppendContext, type AppendNext, abortError, type Interceptor } from '@walstream/core/spi';
import { isRedoRequest, redoReady } from '../errors.js';
import { abortable } from '../util/signal.js';

/**
 * Outermost: when an inner interceptor asks for a rerun (a redo request: the shard found the timetick too
 * old for a segment, or is creating one), waits for what it names and runs the whole inner chain again,
 * which allocates a fresh timetick.
 */
export class RedoInterceptor implements Interceptor {
  readonly name = 'redo';
  readonly #maxAttempts: number;
  readonly #stopping: AbortSignal;
  /** Settles when the WAL starts closing: one listener for every waiting append, not one each. */
  readonly #stopped: Promise<void>;

  constructor(maxAttempts: number, stopping: AbortSignal) {
    this.#maxAttempts = maxAttempts;
    this.#stopping = stopping;
    this.#stopped = new Promise((resolve) =>
      stopping.addEventListener('abort', () => resolve(), { once: true }),
    );
  }

  async doAppend(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(message, context);
      } catch (error) {
        if (!isRedoRequest(error)) throw error;
        if (attempt >= this.#maxAttempts) {
          throw new WalError('UNAVAILABLE', `append gave up after ${attempt} reruns`, { cause: error });
        }
        await this.#waitBeforeRerun(redoReady(error), context.signal);
      }
    }
  }

  async #waitBeforeRerun(ready: Promise<void> | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw abortError(signal, 'append');
    if (this.#stopping.aborted) throw shutdown();
    if (!ready) return;
    // A failed wait (the segment could not be created) is not the answer: the rerun finds out why.
    await abortable(Promise.race([ready.catch(() => undefined), this.#stopped]), signal, 'append');
    if (this.#stopping.aborted) throw shutdown();
  }
}

const shutdown = (): WalError => new WalError('ON_SHUTDOWN', 'wal is closing: append not rerun');
