import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LocalTimestampAllocator } from './allocator.js';
import { composeTimeTick, logicalOf, physicalMsOf } from './hybrid.js';

describe('LocalTimestampAllocator', () => {
  it('is strictly increasing whatever the wall clock does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 200 }), (clock) => {
        let step = 0;
        const allocator = new LocalTimestampAllocator({ now: () => clock[step++ % clock.length]! });
        let previous = -1n;
        for (let i = 0; i < clock.length * 2; i++) {
          const next = allocator.next();
          expect(next).toBeGreaterThan(previous);
          previous = next;
        }
      }),
    );
  });

  it('puts wall-clock milliseconds in the physical part', () => {
    const allocator = new LocalTimestampAllocator({ now: () => 1_700_000_000_000 });
    const first = allocator.next();
    const second = allocator.next();
    expect(physicalMsOf(first)).toBe(1_700_000_000_000);
    expect(logicalOf(second)).toBe(1);
  });

  it('honours a barrier', async () => {
    const allocator = new LocalTimestampAllocator({ now: () => 1 });
    await allocator.barrierUntil(composeTimeTick(10_000));
    expect(await allocator.allocate()).toBeGreaterThanOrEqual(composeTimeTick(10_000));
  });
});
