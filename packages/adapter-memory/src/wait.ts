/**
 * Waits `ms` milliseconds unless one of `signals` fires first. Resolves with the signal that fired, or
 * undefined when the time ran out, so the caller decides what an interruption means (ABORTED, CLOSED).
 */
export function delay(ms: number, ...signals: (AbortSignal | undefined)[]): Promise<AbortSignal | undefined> {
  for (const signal of signals) if (signal?.aborted) return Promise.resolve(signal);
  return new Promise((resolve) => {
    const listeners: [AbortSignal, () => void][] = [];
    const finish = (fired: AbortSignal | undefined) => {
      clearTimeout(timer);
      for (const [signal, listener] of listeners) signal.removeEventListener('abort', listener);
      resolve(fired);
    };
    const timer = setTimeout(finish, ms, undefined);
    for (const signal of signals) {
      if (!signal) continue;
      const listener = () => finish(signal);
      listeners.push([signal, listener]);
      signal.addEventListener('abort', listener, { once: true });
    }
  });
}
