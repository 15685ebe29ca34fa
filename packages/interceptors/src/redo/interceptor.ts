import { type MessageID, type MutableMessage, WalError } from '@walstream/core';
import { type AppendContext, type AppendNext, abortError, type Interceptor } from '@walstream/core/spi';
import { isRedoRequest, redoReady } from '../errors.js';

/**
 * Outermost: when an inner interceptor asks for a rerun (a redo request: the shard found the timetick too
 * old for a segment, or is creating one), waits for what it names and runs the whole inner chain again,
 * which allocates a fresh timetick.
 */
export class RedoInterceptor implements Interceptor {
  readonly name = 'redo';
  readonly #maxAttempts: number;
  readonly #stopping: AbortSignal;

  constructor(maxAttempts: number, stopping: AbortSignal) {
    this.#maxAttempts = maxAttempts;
    this.#stopping = stopping;
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
    const stopped = (): WalError | undefined => {
      if (signal?.aborted) return abortError(signal, 'append');
      if (this.#stopping.aborted) return new WalError('ON_SHUTDOWN', 'wal is closing: append not rerun');
      return undefined;
    };
    const early = stopped();
    if (early) throw early;
    if (!ready) return;
    await new Promise<void>((resolve, reject) => {
      const onStop = (): void => {
        cleanup();
        reject(stopped());
      };
      const cleanup = (): void => {
        signal?.removeEventListener('abort', onStop);
        this.#stopping.removeEventListener('abort', onStop);
      };
      signal?.addEventListener('abort', onStop, { once: true });
      this.#stopping.addEventListener('abort', onStop, { once: true });
      // A failed wait (the segment could not be created) is not the answer: the rerun finds out why.
      void ready.then(
        () => {
          cleanup();
          resolve();
        },
        () => {
          cleanup();
          resolve();
        },
      );
    });
  }
}
