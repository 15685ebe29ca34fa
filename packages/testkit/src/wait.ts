import { WalError } from '@walstream/core';

/**
 * Resolves once `condition()` holds, checking it every `intervalMs` (default 10; 0 checks again at the
 * next turn of the event loop). After `timeoutMs` (default 20 000) it rejects with a TIMEOUT naming
 * `what`, so a test that cannot get there fails saying what it waited for instead of hanging. For tests
 * that wait on a state they cannot subscribe to — never as a sleep.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) {
      throw new WalError('TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`, {
        retriable: false,
      });
    }
    await new Promise((resolve) =>
      intervalMs > 0 ? setTimeout(resolve, intervalMs) : setImmediate(resolve),
    );
  }
}
