import { composeTimeTick, LocalTimestampAllocator, logicalOf, physicalMsOf, WalError } from '@walstream/core';
import { addMilliseconds, LOGICAL_BITS, LOGICAL_MASK, MAX_TIMETICK } from '@walstream/core/internal';
import { describe, expect, it } from 'vitest';

describe('hybrid timeticks (the Milvus TSO layout: ms << 18 | logical)', () => {
  it('has 18 logical bits and a 64-bit maximum', () => {
    expect(LOGICAL_BITS).toBe(18n);
    expect(LOGICAL_MASK).toBe(262_143n);
    expect(MAX_TIMETICK).toBe(18_446_744_073_709_551_615n);
  });

  it('composes and splits; a logical part beyond 18 bits is cut to them', () => {
    const tt = composeTimeTick(1_700_000_000_000, 5);
    expect(tt).toBe(445_644_800_000_000_005n);
    expect(physicalMsOf(tt)).toBe(1_700_000_000_000);
    expect(logicalOf(tt)).toBe(5);
    expect(logicalOf(composeTimeTick(9, 262_143))).toBe(262_143);
    expect(composeTimeTick(9, 262_144)).toBe(composeTimeTick(9, 0));
  });

  it('addMilliseconds adds to the physical part and saturates at the maximum', () => {
    expect(addMilliseconds(composeTimeTick(1_000, 7), 500)).toBe(composeTimeTick(1_500, 7));
    expect(addMilliseconds(MAX_TIMETICK - 1n, 1)).toBe(MAX_TIMETICK);
    expect(addMilliseconds(MAX_TIMETICK - (1n << 18n), 1)).toBe(MAX_TIMETICK);
    expect(addMilliseconds(MAX_TIMETICK - (1n << 18n) - 1n, 1)).toBe(MAX_TIMETICK - 1n);
  });
});

describe('LocalTimestampAllocator', () => {
  it('uses the clock, counts the logical part up within one millisecond, never goes back with the clock', async () => {
    let now = 1_000;
    const allocator = new LocalTimestampAllocator({ now: () => now });
    expect(allocator.next()).toBe(composeTimeTick(1_000, 0));
    expect(allocator.next()).toBe(composeTimeTick(1_000, 1));
    expect(await allocator.allocate()).toBe(composeTimeTick(1_000, 2));
    expect(allocator.allocateNow()).toBe(composeTimeTick(1_000, 3));
    now = 2_000;
    expect(allocator.next()).toBe(composeTimeTick(2_000, 0));
    now = 500;
    expect(allocator.next()).toBe(composeTimeTick(2_000, 1));
  });

  it('barrierUntil: the next timetick is the barrier itself; a barrier already passed changes nothing', async () => {
    const allocator = new LocalTimestampAllocator({ now: () => 1_000 });
    const barrier = composeTimeTick(5_000, 3);
    await allocator.barrierUntil(barrier);
    expect(allocator.next()).toBe(barrier);
    const last = allocator.next();
    expect(last).toBe(barrier + 1n);
    await allocator.barrierUntil(last);
    expect(allocator.next()).toBe(last + 1n);
    await allocator.barrierUntil(composeTimeTick(2_000));
    expect(allocator.next()).toBe(last + 2n);
  });

  it('refuses to run out a logical counter more than a minute ahead of the clock: UNAVAILABLE', async () => {
    const allocator = new LocalTimestampAllocator({ now: () => 0 });
    // The counter of ms 120 000 is full and 120 s lie ahead of the clock.
    await allocator.barrierUntil(composeTimeTick(120_000, 262_143));
    let caught: unknown;
    try {
      allocator.next();
    } catch (error) {
      caught = error;
    }
    expect(WalError.is(caught) && caught.code).toBe('UNAVAILABLE');
    // Ahead, but with room in the counter: handed out.
    const ahead = new LocalTimestampAllocator({ now: () => 0 });
    await ahead.barrierUntil(composeTimeTick(120_000, 5));
    expect(ahead.next()).toBe(composeTimeTick(120_000, 5));
    // A full counter exactly a minute ahead is still within bounds.
    const edge = new LocalTimestampAllocator({ now: () => 0 });
    await edge.barrierUntil(composeTimeTick(60_000, 262_143));
    expect(edge.next()).toBe(composeTimeTick(60_000, 262_143));
    // Within the minute a full counter simply rolls over into the next millisecond.
    const near = new LocalTimestampAllocator({ now: () => 0 });
    await near.barrierUntil(composeTimeTick(30_000, 262_143));
    expect(near.next()).toBe(composeTimeTick(30_000, 262_143));
    expect(near.next()).toBe(composeTimeTick(30_001, 0));
  });
});
