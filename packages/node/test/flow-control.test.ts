import { WalError } from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type FlowPermit,
  NodeFlowControl,
  type RateLimitLevel,
  resolveFlowControl,
} from '../src/services/flow-control.js';

function control(maxBytesInFlight: number, now: () => number = () => 0) {
  return new NodeFlowControl(resolveFlowControl('test', { maxBytesInFlight }), now);
}

describe('NodeFlowControl', () => {
  it('refuses an append that would take the node over its byte budget, RATE_LIMIT_REJECTED and retriable', () => {
    const flow = control(1000);
    const first = flow.acquire(600);
    expect(first).not.toBeInstanceOf(WalError);
    const second = flow.acquire(500);
    expect(second).toBeInstanceOf(WalError);
    expect((second as WalError).code).toBe('RATE_LIMIT_REJECTED');
    expect((second as WalError).retriable).toBe(true);
    expect(flow.stats()).toMatchObject({ appendsInFlight: 1, bytesInFlight: 600, rejected: 1 });
  });

  it('refuses a message larger than the whole budget as INVALID_ARGUMENT, not retriable', () => {
    const error = control(1000).acquire(1001) as WalError;
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.retriable).toBe(false);
  });

  it('pushes SLOWDOWN, then REJECT as the budget fills, and NORMAL only once it fell below recoverAt', () => {
    const flow = control(1000);
    const seen: RateLimitLevel[] = [];
    flow.onChange((notice) => seen.push(notice.level));
    const a = flow.acquire(500) as FlowPermit;
    const b = flow.acquire(300) as FlowPermit; // 0.8 → slowdown
    const c = flow.acquire(150) as FlowPermit; // 0.95 → reject
    expect(seen).toEqual(['slowdown', 'reject']);
    expect((flow.acquire(1) as WalError).code).toBe('RATE_LIMIT_REJECTED');
    c.release(); // 0.8: still over slowdownAt, so reject → slowdown only below it
    b.release(); // 0.5: between recoverAt and slowdownAt → slowdown
    expect(seen).toEqual(['slowdown', 'reject', 'slowdown']);
    a.release(); // 0 → normal
    expect(seen).toEqual(['slowdown', 'reject', 'slowdown', 'normal']);
    expect(flow.stats()).toMatchObject({ appendsInFlight: 0, bytesInFlight: 0, peakBytesInFlight: 950 });
  });

  it('counts a permit released twice once', () => {
    const flow = control(1000);
    const permit = flow.acquire(100) as FlowPermit;
    permit.release();
    permit.release();
    expect(flow.stats().bytesInFlight).toBe(0);
  });

  it('rejects fractions out of order', () => {
    expect(() => resolveFlowControl('test', { slowdownAt: 0.4, recoverAt: 0.5 })).toThrow(
      /recoverAt < slowdownAt/,
    );
    expect(() => resolveFlowControl('test', { maxInFlight: 3 } as never)).toThrow(
      /unknown option flowControl.maxInFlight/,
    );
  });

  it('never holds more than its budget, whatever the order of acquires and releases (property)', () => {
    let sawRejection = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 10_000 }),
        fc.array(
          fc.oneof(
            fc.record({ acquire: fc.integer({ min: 1, max: 3000 }) }),
            fc.record({ release: fc.nat() }),
          ),
          {
            maxLength: 200,
          },
        ),
        (max, steps) => {
          const flow = control(max);
          const held: FlowPermit[] = [];
          for (const step of steps) {
            if ('acquire' in step) {
              const permit = flow.acquire(step.acquire);
              if (permit instanceof WalError) sawRejection++;
              else held.push(permit);
            } else if (held.length > 0) {
              held.splice(step.release % held.length, 1)[0]!.release();
            }
            const stats = flow.stats();
            expect(stats.bytesInFlight).toBeLessThanOrEqual(max);
            expect(stats.appendsInFlight).toBe(held.length);
          }
          for (const permit of held) permit.release();
          expect(flow.stats().level).toBe('normal');
        },
      ),
    );
    expect(sawRejection).toBeGreaterThan(50);
  });
});
