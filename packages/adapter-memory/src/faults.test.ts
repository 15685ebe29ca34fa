import { describe, expect, it } from 'vitest';
import { ChannelFaults } from './faults.js';
import { throwsWith } from './test-helpers.js';

function schedule(faults: ChannelFaults, count: number): boolean[] {
  return Array.from({ length: count }, () => faults.rollAppendError());
}

describe('ChannelFaults', () => {
  it('starts with no faults and the hot-path flag off', () => {
    const faults = new ChannelFaults('ch', 1);
    expect(faults.config).toEqual({
      appendErrorRate: 0,
      lostAckRate: 0,
      fenced: false,
      appendDelayMs: 0,
      readDelayMs: 0,
    });
    expect(faults.appendFaulty).toBe(false);
  });

  it('set changes only the named fields; clear removes all', () => {
    const faults = new ChannelFaults('ch', 1);
    faults.set({ fenced: true }).set({ appendDelayMs: 5 });
    expect(faults.config).toMatchObject({ fenced: true, appendDelayMs: 5 });
    expect(faults.appendFaulty).toBe(true);
    faults.set({ fenced: false, appendDelayMs: 0 });
    expect(faults.appendFaulty).toBe(false);
    faults.set({ lostAckRate: 0.1 });
    expect(faults.appendFaulty).toBe(true);
    faults.set({ lostAckRate: 0 });
    faults.set({ readDelayMs: 3 });
    // A read delay alone does not put appends on the slow path.
    expect(faults.appendFaulty).toBe(false);
    faults.set({ appendErrorRate: 0.5 }).clear();
    expect(faults.config.appendErrorRate).toBe(0);
    expect(faults.config.readDelayMs).toBe(0);
    expect(faults.appendFaulty).toBe(false);
  });

  it('rejects out-of-range settings with INVALID_ARGUMENT naming the channel', () => {
    const faults = new ChannelFaults('orders', 1);
    const error = throwsWith(() => faults.set({ appendErrorRate: 1.5 }), 'INVALID_ARGUMENT');
    expect(error.message).toContain('orders');
    throwsWith(() => faults.set({ appendErrorRate: Number.NaN }), 'INVALID_ARGUMENT');
    throwsWith(() => faults.set({ lostAckRate: -0.1 }), 'INVALID_ARGUMENT');
    throwsWith(() => faults.set({ appendDelayMs: -1 }), 'INVALID_ARGUMENT');
    throwsWith(() => faults.set({ readDelayMs: Number.POSITIVE_INFINITY }), 'INVALID_ARGUMENT');
    // A rejected set leaves the previous configuration untouched.
    expect(faults.config.appendErrorRate).toBe(0);
  });

  it('draws a reproducible schedule from the seed and the channel name', () => {
    const a = new ChannelFaults('ch', 42).set({ appendErrorRate: 0.3 });
    const b = new ChannelFaults('ch', 42).set({ appendErrorRate: 0.3 });
    const otherSeed = new ChannelFaults('ch', 43).set({ appendErrorRate: 0.3 });
    const otherChannel = new ChannelFaults('ch2', 42).set({ appendErrorRate: 0.3 });
    const first = schedule(a, 200);
    expect(schedule(b, 200)).toEqual(first);
    expect(schedule(otherSeed, 200)).not.toEqual(first);
    expect(schedule(otherChannel, 200)).not.toEqual(first);
    const failures = first.filter(Boolean).length;
    // 200 draws at p = 0.3: far outside [30, 90] would mean the generator is broken.
    expect(failures).toBeGreaterThan(30);
    expect(failures).toBeLessThan(90);
  });

  it('never fails at rate 0 and always fails at rate 1', () => {
    const faults = new ChannelFaults('ch', 7);
    expect(schedule(faults, 100).some(Boolean)).toBe(false);
    faults.set({ appendErrorRate: 1 });
    expect(schedule(faults, 100).every(Boolean)).toBe(true);
  });
});
