import { type MessageID, type MutableMessage, WalError } from '@walstream/core';
import { abortable } from '@walstream/core/internal';
import {
  type AppendContext,
  type AppendNext,
  abortError,
  type Interceptor,
  toWalError,
} from '@walstream/core/spi';
import { isRedoRequest, redoReady } from '../errors.js';

/**
 * Outermost: when an inner interceptor asks for a rerun (a redo request: the shard found the timetick too
 * old for a segment, or is creating one), waits for what it names and runs the whole inner chain again,
 * which allocates a fresh timetick.
 */
export class RedoInterceptor implements Interceptor {
  readonly name = 'redo';
  readonly #pchannel: string;
  readonly #maxAttempts: number;
  readonly #stopping: AbortSignal;
  /** Settles when the WAL starts closing: one listener for every waiting append, not one each. */
  readonly #stopped: Promise<void>;

  constructor(pchannel: string, maxAttempts: number, stopping: AbortSignal) {
    this.#pchannel = pchannel;
    this.#maxAttempts = maxAttempts;
    this.#stopping = stopping;
    this.#stopped = new Promise((resolve) =>
      stopping.addEventListener('abort', () => resolve(), { once: true }),
    );
  }

  async doAppend(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    for (let attempt = 1; ; attempt++) {
      let request: WalError;
      try {
        return await next(message, context);
      } catch (error) {
        if (!isRedoRequest(error)) throw error;
        request = error;
      }
      // Waited for even before giving up: a wait that fails says why this append can never succeed (the
      // WAL was fenced or closed), which is the true answer, not "gave up".
      await this.#waitBeforeRerun(redoReady(request), context.signal);
      if (attempt >= this.#maxAttempts) {
        // Every wait succeeded, yet the append kept asking: a livelock, which may pass.
        throw new WalError('UNAVAILABLE', `append gave up after ${attempt} reruns`, { cause: request });
      }
    }
  }

  /**
   * Waits for what the request names. It resolving means "run again"; it rejecting is the end of this
   * append, with that error (the shard rejects only when the segment can never be created on this WAL).
   * A redo request is thrown before anything is written, so a WAL closing under the wait answers CLOSED:
   * the append did not land.
   */
  async #waitBeforeRerun(ready: Promise<void> | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw abortError(signal, 'append');
    if (this.#stopping.aborted) throw this.#closed();
    if (!ready) return;
    try {
      await abortable(Promise.race([ready, this.#stopped]), signal, () => abortError(signal, 'append'));
    } catch (error) {
      throw toWalError(error, 'INNER', 'redo wait');
    }
    if (this.#stopping.aborted) throw this.#closed();
  }

  #closed(): WalError {
    return new WalError('CLOSED', `wal of pchannel ${this.#pchannel} was closed: append not rerun`, {
      retriable: false,
    });
  }
}
