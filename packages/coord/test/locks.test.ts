import {
  exclusiveResourceKey,
  hasCode,
  ResourceDomain,
  type ResourceKey,
  sharedResourceKey,
} from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type LockGuard, ResourceKeyLocks } from '../src/index.js';

const X = (key: string) => exclusiveResourceKey(ResourceDomain.CollectionName, key);
const R = (key: string) => sharedResourceKey(ResourceDomain.CollectionName, key);

/** Settles within the current macrotask or not at all: how a test tells "granted now" from "waiting". */
async function settledNow<T>(promise: Promise<T>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await new Promise((r) => setImmediate(r));
  return settled;
}

describe('ResourceKeyLocks', () => {
  test('an exclusive key waits for its holder; shared holders of a key do not wait for each other', async () => {
    const locks = new ResourceKeyLocks();
    const first = await locks.lock([X('a')]);
    const second = locks.lock([X('a')]);
    expect(await settledNow(second)).toBe(false);
    first.release();
    (await second).release();
    const r1 = await locks.lock([R('b')]);
    const r2 = locks.lock([R('b')]);
    expect(await settledNow(r2)).toBe(true);
    const w = locks.lock([X('b')]);
    expect(await settledNow(w)).toBe(false);
    // A reader behind a queued writer waits too: writers are not starved.
    const r3 = locks.lock([R('b')]);
    expect(await settledNow(r3)).toBe(false);
    r1.release();
    (await r2).release();
    expect(await settledNow(w)).toBe(true);
    (await w).release();
    (await r3).release();
    expect(locks.describe()).toEqual([]);
  });

  test('tryLock takes every key or none', async () => {
    const locks = new ResourceKeyLocks();
    const held = await locks.lock([X('b')]);
    expect(locks.tryLock([X('a'), X('b')])).toBeUndefined();
    // 'a' was not kept by the failed try.
    const a = locks.tryLock([X('a')]);
    expect(a).toBeDefined();
    a?.release();
    held.release();
    expect(locks.tryLock([X('a'), X('b')])).toBeDefined();
  });

  test('an aborted wait rejects ABORTED and holds none of its keys', async () => {
    const locks = new ResourceKeyLocks();
    const held = await locks.lock([X('b')]);
    const abort = new AbortController();
    const waiting = locks.lock([X('a'), X('b')], abort.signal);
    expect(await settledNow(waiting)).toBe(false);
    abort.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(hasCode(error, 'ABORTED')).toBe(true);
    expect(locks.tryLock([X('a')])).toBeDefined();
    held.release();
  });

  test('the shared and the exclusive form of one key in one call is INVALID_ARGUMENT', async () => {
    const locks = new ResourceKeyLocks();
    await expect(locks.lock([R('a'), X('a')])).rejects.toThrow(/both shared and exclusive/);
  });

  test('keys taken in any order, concurrently, by many callers never deadlock and never overlap an exclusive holder', async () => {
    const seen = { waited: 0, aborted: 0, shared: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            keys: fc.uniqueArray(
              fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), shared: fc.boolean() }),
              {
                selector: (k) => k.key,
                minLength: 1,
                maxLength: 3,
              },
            ),
            abort: fc.integer({ min: 0, max: 9 }),
            holdTicks: fc.integer({ min: 0, max: 3 }),
          }),
          { minLength: 2, maxLength: 12 },
        ),
        async (callers) => {
          const locks = new ResourceKeyLocks();
          const holders = new Map<string, { shared: number; exclusive: number }>();
          const check = (keys: readonly ResourceKey[], delta: 1 | -1): void => {
            for (const k of keys) {
              const h = holders.get(k.key) ?? { shared: 0, exclusive: 0 };
              if (k.shared) h.shared += delta;
              else h.exclusive += delta;
              holders.set(k.key, h);
              expect(h.exclusive === 0 || (h.exclusive === 1 && h.shared === 0), `key ${k.key}`).toBe(true);
            }
          };
          await Promise.all(
            callers.map(async (caller, i) => {
              const keys = caller.keys.map((k) => (k.shared ? R(k.key) : X(k.key)));
              // Each caller lists its keys in its own order.
              if (i % 2 === 1) keys.reverse();
              const abort = new AbortController();
              if (caller.abort === 0) setImmediate(() => abort.abort());
              const pending = locks.lock(keys, abort.signal);
              if (!(await settledNow(pending))) seen.waited++;
              let guard: LockGuard;
              try {
                guard = await pending;
              } catch (error) {
                expect(hasCode(error, 'ABORTED')).toBe(true);
                seen.aborted++;
                return;
              }
              if (keys.some((k) => k.shared)) seen.shared++;
              check(guard.keys, 1);
              for (let t = 0; t < caller.holdTicks; t++) await new Promise((r) => setImmediate(r));
              check(guard.keys, -1);
              guard.release();
            }),
          );
          expect(locks.describe()).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
    expect(seen.waited).toBeGreaterThan(0);
    expect(seen.aborted).toBeGreaterThan(0);
    expect(seen.shared).toBeGreaterThan(0);
  });
});
