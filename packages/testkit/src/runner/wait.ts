import { abortable as abortableUntil } from '@walstream/core/internal';
import { ConformanceFailure } from './assert.js';

/**
 * Calls `listener` once when `signal` aborts; the returned function detaches it, so a long-lived signal
 * (a case's deadline) does not collect one listener per wait.
 */
export function whenAborted(signal: AbortSignal, listener: () => void): () => void {
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * Settles like `promise`, or rejects when `signal` aborts first: a hung adapter call then fails the case
 * with the step it hung in instead of hanging the runner.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return abortableUntil(promise, signal, () => timedOut(what, signal));
}

function timedOut(what: string, signal: AbortSignal): ConformanceFailure {
  return new ConformanceFailure(`gave up waiting for ${what}`, { cause: signal.reason });
}

/**
 * Lets `ms` of wall time pass (a slow consumer, a backoff). Never used to make an assertion true: the
 * suites wait on conditions, this only gives a background fetch loop the chance to misbehave.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return abortable(
    new Promise<void>((resolve) => {
      const detach = whenAborted(signal, () => clearTimeout(timer));
      const timer = setTimeout(() => {
        detach();
        resolve();
      }, ms);
    }),
    signal,
    `a pause of ${ms} ms`,
  );
}
