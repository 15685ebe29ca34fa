import { WalError } from '@walstream/core';
import { abortError } from '@walstream/core/spi';

/**
 * Rejects TIMEOUT when `work` takes longer than `ms`, ABORTED when `signal` fires. The work itself is not
 * cancelled (the clients offer no cancellation); callers treat its late outcome as unknown.
 */
export function bounded<T>(work: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortError(signal, what));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new WalError('TIMEOUT', `${what} did not complete within ${ms} ms`, { details: { timeoutMs: ms } }),
        ),
      ms,
    );
    const onAbort = () => reject(abortError(signal, what));
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
