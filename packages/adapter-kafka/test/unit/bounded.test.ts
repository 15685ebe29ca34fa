import type { WalError } from '@walstream/core';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { bounded } from '../../src/util.js';

/**
 * `bounded` is how every broker round trip of open and build gets its deadline (connectTimeoutMs,
 * operationTimeoutMs) and how opener.close() interrupts an open in flight. Fake timers make the deadline
 * exact instead of measured.
 */
describe('bounded', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Settles `promise` into what it resolved or rejected with, or `'pending'`, after pending jobs ran. */
  async function state(promise: Promise<unknown>): Promise<unknown> {
    const outcome = promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    return Promise.race([outcome, vi.advanceTimersByTimeAsync(0).then(() => 'pending')]);
  }

  test('work that never settles rejects TIMEOUT at the bound, not a millisecond before', async () => {
    const result = bounded(new Promise(() => {}), 2_000, 'connecting to Kafka at h:1');
    result.catch(() => {});
    await vi.advanceTimersByTimeAsync(1_999);
    expect(await state(result)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    const { error } = (await state(result)) as { error: WalError };
    expect(error).toMatchObject({ code: 'TIMEOUT', details: { timeoutMs: 2_000 } });
    expect(error.message).toBe('connecting to Kafka at h:1 did not complete within 2000 ms');
  });

  test('an abort rejects ABORTED at once, with no time passing', async () => {
    const controller = new AbortController();
    const result = bounded(new Promise(() => {}), 3_600_000, 'taking pchannel p', controller.signal);
    result.catch(() => {});
    expect(await state(result)).toBe('pending');
    const reason = new Error('opener closed');
    controller.abort(reason);
    const { error } = (await state(result)) as { error: WalError };
    expect(error).toMatchObject({ code: 'ABORTED', retriable: false, cause: reason });
    expect(error.message).toContain('taking pchannel p');
  });

  test('an already aborted signal rejects without starting a timer', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = bounded(new Promise(() => {}), 1_000, 'x', controller.signal);
    result.catch(() => {});
    expect(vi.getTimerCount()).toBe(0);
    expect(await state(result)).toMatchObject({ error: { code: 'ABORTED' } });
  });

  test('work that settles first wins and clears its timer; its rejection passes through unchanged', async () => {
    await expect(bounded(Promise.resolve(7), 1_000, 'x')).resolves.toBe(7);
    expect(vi.getTimerCount()).toBe(0);
    const failure = new Error('refused');
    await expect(bounded(Promise.reject(failure), 1_000, 'x')).rejects.toBe(failure);
    expect(vi.getTimerCount()).toBe(0);
  });
});
