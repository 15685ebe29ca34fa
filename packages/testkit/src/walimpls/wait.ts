import { ConformanceFailure } from './assert.js';

/**
 * Settles like `promise`, or rejects when `signal` aborts first: a hung adapter call then fails the case
 * with the step it hung in instead of hanging the runner.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(timedOut(what, signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(timedOut(what, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function timedOut(what: string, signal: AbortSignal): ConformanceFailure {
  return new ConformanceFailure(`gave up waiting for ${what}`, { cause: signal.reason });
}

/**
 * Lets `ms` of wall time pass (a slow consumer, a backoff). Never used to make an assertion true: the
 * suite waits on conditions, this only gives a background fetch loop the chance to misbehave.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return abortable(
    new Promise<void>((resolve) => {
      const stop = () => clearTimeout(timer);
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', stop);
        resolve();
      }, ms);
      signal.addEventListener('abort', stop, { once: true });
    }),
    signal,
    `a pause of ${ms} ms`,
  );
}
