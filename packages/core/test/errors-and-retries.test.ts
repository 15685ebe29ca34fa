import { appendOutcome, hasCode, WalError } from '@walstream/core';
import { abortable, delay, isRetriableFailure, retryWithBackoff } from '@walstream/core/internal';
import { abortError, toWalError } from '@walstream/core/spi';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

describe('WalError', () => {
  it('is() knows walstream errors by their mark, not by shape or class', () => {
    expect(WalError.is(new WalError('UNKNOWN', 'x'))).toBe(true);
    for (const other of [
      undefined,
      null,
      'WalError',
      42,
      new Error('x'),
      { name: 'WalError', code: 'UNKNOWN', retriable: false, message: 'x', details: {} },
      Object.assign(new Error('x'), { code: 'CLOSED' }),
    ]) {
      expect(WalError.is(other)).toBe(false);
      expect(hasCode(other, 'UNKNOWN', 'CLOSED')).toBe(false);
    }
  });

  it('carries a cause only when given one', () => {
    expect('cause' in new WalError('UNKNOWN', 'x')).toBe(false);
    const cause = new Error('below');
    expect(new WalError('UNKNOWN', 'x', { cause }).cause).toBe(cause);
  });

  it("abortError: ABORTED, never retriable, the signal's reason as cause", () => {
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    controller.abort(reason);
    const error = abortError(controller.signal, 'append');
    expect(error).toMatchObject({
      code: 'ABORTED',
      retriable: false,
      message: 'append was aborted',
      cause: reason,
    });
    expect(abortError(undefined).message).toBe('operation was aborted');
  });

  it('toWalError keeps a coded error and wraps anything else with the fallback code and context', () => {
    const coded = new WalError('CLOSED', 'gone');
    expect(toWalError(coded, 'UNAVAILABLE', 'ctx')).toBe(coded);
    const raw = new Error('socket hang up');
    const wrapped = toWalError(raw, 'UNAVAILABLE', 'append to p');
    expect(wrapped).toMatchObject({
      code: 'UNAVAILABLE',
      message: 'append to p: socket hang up',
      cause: raw,
    });
    expect(toWalError('plain').message).toBe('plain');
    expect(toWalError('plain').code).toBe('UNKNOWN');
  });

  it('appendOutcome reads details.written: false, true, or absent (unknown)', () => {
    expect(appendOutcome(new WalError('UNAVAILABLE', 'x', { details: { written: false } }))).toBe(
      'not-written',
    );
    expect(appendOutcome(new WalError('UNAVAILABLE', 'x', { details: { written: true } }))).toBe('written');
    expect(appendOutcome(new WalError('UNAVAILABLE', 'x'))).toBe('unknown');
    expect(appendOutcome(new WalError('UNAVAILABLE', 'x', { details: { written: 'false' } }))).toBe(
      'unknown',
    );
    expect(appendOutcome(new Error('x'))).toBe('unknown');
  });

  it('isRetriableFailure: anything not coded, or coded retriable', () => {
    expect(isRetriableFailure(new Error('x'))).toBe(true);
    expect(isRetriableFailure(new WalError('UNAVAILABLE', 'x'))).toBe(true);
    expect(isRetriableFailure(new WalError('CHANNEL_FENCED', 'x'))).toBe(false);
    expect(isRetriableFailure(new WalError('UNAVAILABLE', 'x', { retriable: false }))).toBe(false);
  });
});

describe('delay, abortable and retryWithBackoff (fake timers: waits are exact)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** What `promise` settled to after pending jobs ran, or 'pending'. */
  async function state(promise: Promise<unknown>): Promise<unknown> {
    const outcome = promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    return Promise.race([outcome, vi.advanceTimersByTimeAsync(0).then(() => 'pending')]);
  }

  it('delay resolves after its time and rejects ABORTED when its signal fires, clearing its timer', async () => {
    const done = delay(100);
    await vi.advanceTimersByTimeAsync(99);
    expect(await state(done)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await state(done)).toEqual({ value: undefined });

    const controller = new AbortController();
    const waiting = delay(100, controller.signal);
    controller.abort();
    expect(await state(waiting)).toMatchObject({ error: { code: 'ABORTED' } });
    expect(vi.getTimerCount()).toBe(0);
    const already = delay(100, controller.signal);
    expect(await state(already)).toMatchObject({ error: { code: 'ABORTED' } });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('abortable settles like its promise, or with the reason once the signal fires', async () => {
    const controller = new AbortController();
    expect(await abortable(Promise.resolve(1), controller.signal, () => 'why')).toBe(1);
    await expect(abortable(Promise.reject(new Error('no')), controller.signal, () => 'why')).rejects.toThrow(
      'no',
    );
    const hanging = abortable(new Promise(() => {}), controller.signal, () => new Error('stopped'));
    controller.abort();
    await expect(hanging).rejects.toThrow('stopped');
    await expect(abortable(Promise.resolve(2), controller.signal, () => new Error('late'))).rejects.toThrow(
      'late',
    );
    expect(await abortable(Promise.resolve(3), undefined, () => 'why')).toBe(3);
  });

  /** Runs `retryWithBackoff` over `failures` failing attempts; returns the times (fake ms) each attempt ran. */
  async function attemptTimes(
    failures: number,
    options: Partial<Parameters<typeof retryWithBackoff>[1]> = {},
  ) {
    const times: number[] = [];
    const started = Date.now();
    const result = retryWithBackoff(
      async () => {
        times.push(Date.now() - started);
        if (times.length <= failures) throw new WalError('UNAVAILABLE', `attempt ${times.length}`);
        return 'ok';
      },
      { initialMs: 10, maxMs: 50, shouldRetry: () => true, ...options },
    );
    await vi.runAllTimersAsync();
    return { times, result: await result };
  }

  it('waits initialMs, then multiplies the wait (default ×2) up to maxMs', async () => {
    expect(await attemptTimes(5)).toEqual({ times: [0, 10, 30, 70, 120, 170], result: 'ok' });
    expect((await attemptTimes(3, { multiplier: 3 })).times).toEqual([0, 10, 40, 90]);
  });

  it('delayFirst waits before the first attempt too, and the next wait has grown already', async () => {
    expect((await attemptTimes(1, { delayFirst: true })).times).toEqual([10, 30]);
  });

  it('a failure shouldRetry refuses ends it at once with that failure', async () => {
    const permanent = new WalError('CHANNEL_FENCED', 'fenced');
    let attempts = 0;
    const result = retryWithBackoff(
      async () => {
        attempts++;
        throw permanent;
      },
      { initialMs: 10, maxMs: 50, shouldRetry: (error) => !hasCode(error, 'CHANNEL_FENCED') },
    );
    await expect(result).rejects.toBe(permanent);
    expect(attempts).toBe(1);
  });

  it('stopReason ends the retries with its error, checked after each wait', async () => {
    const stop = new WalError('CLOSED', 'closing');
    let stopping = false;
    let attempts = 0;
    const result = retryWithBackoff(
      async () => {
        attempts++;
        stopping = true;
        throw new WalError('UNAVAILABLE', 'down');
      },
      { initialMs: 10, maxMs: 50, shouldRetry: () => true, stopReason: () => (stopping ? stop : undefined) },
    );
    result.catch(() => {});
    await vi.runAllTimersAsync();
    await expect(result).rejects.toBe(stop);
    expect(attempts).toBe(1);

    const beforeFirst = retryWithBackoff(async () => 'never', {
      initialMs: 10,
      maxMs: 50,
      shouldRetry: () => true,
      delayFirst: true,
      stopReason: () => stop,
    });
    beforeFirst.catch(() => {});
    await vi.runAllTimersAsync();
    await expect(beforeFirst).rejects.toBe(stop);
  });

  it('an abort during a wait ends the retries ABORTED', async () => {
    const controller = new AbortController();
    const result = retryWithBackoff(
      async () => {
        throw new WalError('UNAVAILABLE', 'down');
      },
      { initialMs: 1_000, maxMs: 1_000, shouldRetry: () => true, signal: controller.signal },
    );
    result.catch(() => {});
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    expect(await state(result)).toMatchObject({ error: { code: 'ABORTED' } });
  });
});
