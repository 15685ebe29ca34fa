import { abortError, WalError } from '../errors/wal-error.js';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier?: number;
}

/** Resolves after `ms`, or rejects ABORTED as soon as `signal` fires. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions extends BackoffOptions {
  readonly signal?: AbortSignal;
  /** Whether a failure is worth another attempt. */
  readonly shouldRetry: (error: unknown) => boolean;
  /** Checked before each new attempt: an error here ends the retries (e.g. the WAL is closing). */
  readonly stopReason?: () => WalError | undefined;
  /** Wait before the first attempt too, because the caller already made one. Default false. */
  readonly delayFirst?: boolean;
}

/** Runs `attempt` until it succeeds, with exponential backoff between failures that `shouldRetry` accepts. */
export async function retryWithBackoff<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  let wait = options.initialMs;
  if (options.delayFirst) {
    await delay(wait, options.signal);
    const stop = options.stopReason?.();
    if (stop) throw stop;
    wait = Math.min(options.maxMs, wait * (options.multiplier ?? 2));
  }
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!options.shouldRetry(error)) throw error;
      await delay(wait, options.signal);
      const stop = options.stopReason?.();
      if (stop) throw stop;
      wait = Math.min(options.maxMs, wait * (options.multiplier ?? 2));
    }
  }
}

/** Retriable by default: anything not coded as a permanent failure. */
export function isRetriableFailure(error: unknown): boolean {
  return !WalError.is(error) || error.retriable;
}

/**
 * Settles like `promise`, or rejects with `reason()` as soon as `signal` aborts. The listener is removed
 * either way, so a long-lived signal does not collect one listener per wait; a promise left behind by an
 * abort has its rejection handled.
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  reason: () => unknown,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(reason());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => {});
      reject(reason());
    };
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
