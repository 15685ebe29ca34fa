import { WalError } from '@walstream/core';

/** One call's signal: the caller's, the client's close (CLOSED) and a time bound (TIMEOUT), whichever first. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** Clears the timer and the close listener; call it when the call settled. */
  done(): void;
}

export function deadline(
  what: string,
  timeoutMs: number,
  stop: AbortSignal,
  signal: AbortSignal | undefined,
): Deadline {
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new WalError('TIMEOUT', `${what} took over ${timeoutMs} ms`)),
    timeoutMs,
  );
  const closed = new AbortController();
  const onStop = (): void => closed.abort(new WalError('CLOSED', 'the client is closed'));
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  const signals = [timeout.signal, closed.signal, ...(signal ? [signal] : [])];
  return {
    signal: AbortSignal.any(signals),
    done: () => {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    },
  };
}
