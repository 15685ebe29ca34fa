import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedRwLock, RwLock } from './rw-lock.js';

describe('RwLock', () => {
  it('shares reads, excludes writes, and a waiting writer holds back later readers', async () => {
    const lock = new RwLock();
    const r1 = lock.tryRead()!;
    const r2 = lock.tryRead()!;
    expect(lock.tryWrite()).toBeUndefined();
    const order: string[] = [];
    const writer = lock.write().then((release) => {
      order.push('w');
      return release;
    });
    const lateReader = lock.read().then((release) => {
      order.push('r3');
      return release;
    });
    expect(lock.tryRead()).toBeUndefined();
    r1();
    r2();
    (await writer)();
    (await lateReader)();
    expect(order).toEqual(['w', 'r3']);
    expect(lock.idle).toBe(true);
  });

  it('an aborted waiter leaves the queue and lets the others through', async () => {
    const lock = new RwLock();
    const held = lock.tryRead()!;
    const controller = new AbortController();
    const writer = lock.write(controller.signal);
    const reader = lock.read();
    controller.abort();
    await expect(writer).rejects.toMatchObject({ code: 'ABORTED' });
    (await reader)();
    held();
    expect(lock.idle).toBe(true);
  });

  it('property: never a writer with anyone else, and every request is served', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ write: fc.boolean(), holdTicks: fc.nat(3) }), { minLength: 1, maxLength: 40 }),
        async (requests) => {
          const lock = new RwLock();
          let readers = 0;
          let writers = 0;
          let served = 0;
          await Promise.all(
            requests.map(async (request) => {
              const release = await (request.write ? lock.write() : lock.read());
              if (request.write) writers++;
              else readers++;
              expect(writers === 0 || (writers === 1 && readers === 0)).toBe(true);
              for (let i = 0; i < request.holdTicks; i++) await Promise.resolve();
              if (request.write) writers--;
              else readers--;
              served++;
              release();
            }),
          );
          expect(served).toBe(requests.length);
          expect(lock.idle).toBe(true);
        },
      ),
    );
  });
});

describe('KeyedRwLock', () => {
  it('locks keys independently, keeps them, and forgets an idle one on request', async () => {
    const locks = new KeyedRwLock();
    const a = await locks.write('a');
    const b = locks.tryRead('b');
    expect(b).toBeDefined();
    expect(locks.tryRead('a')).toBeUndefined();
    locks.forget('a');
    expect(locks.size).toBe(2);
    a();
    b!();
    locks.forget('a');
    expect(locks.size).toBe(1);
  });
});
