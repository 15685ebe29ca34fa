import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Histogram } from '../src/histogram.js';

/** The exact value at quantile q of sorted samples, by the same rank rule (the ceil(q·n)-th smallest). */
function exact(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe('Histogram', () => {
  it('every quantile is within 1 % of the exact one, for latencies from 1 µs to 60 s', () => {
    let spread = 0;
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.001, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 500 }),
        fc.constantFrom(0.5, 0.9, 0.99, 0.999, 1),
        (samples, q) => {
          const histogram = new Histogram();
          for (const sample of samples) histogram.add(sample);
          const sorted = [...samples].sort((a, b) => a - b);
          const want = exact(sorted, q);
          expect(Math.abs(histogram.quantile(q)! - want) / want).toBeLessThanOrEqual(0.01);
          expect(histogram.count).toBe(samples.length);
          expect(histogram.max).toBe(sorted.at(-1));
          if (sorted.at(-1)! / sorted[0]! > 1_000) spread++;
        },
      ),
      { numRuns: 300 },
    );
    // The interesting cases: samples spanning three orders of magnitude or more.
    expect(spread).toBeGreaterThan(50);
  });

  it('merge gives the quantiles of both sample sets together; no samples, no quantile', () => {
    const a = new Histogram();
    const b = new Histogram();
    const both = new Histogram();
    for (let i = 1; i <= 1_000; i++) {
      (i % 2 ? a : b).add(i / 10);
      both.add(i / 10);
    }
    a.merge(b);
    for (const q of [0.5, 0.99]) expect(a.quantile(q)).toBe(both.quantile(q));
    expect(a.count).toBe(1_000);
    expect(new Histogram().quantile(0.5)).toBeUndefined();
  });
});
