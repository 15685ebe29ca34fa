import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WalCheckpoint } from './catalog.js';
import { MemoryCatalog } from './memory-catalog.js';

const checkpoint = (term: bigint | undefined, timeTick: bigint): WalCheckpoint => ({
  messageId: String(timeTick),
  walName: 'test',
  timeTick,
  ...(term === undefined ? {} : { term }),
});

describe('MemoryCatalog checkpoints', () => {
  it('a save never replaces a record of a higher term, even when saves of many terms interleave', async () => {
    const term = fc.option(fc.bigInt({ min: 0n, max: 5n }), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(fc.array(term, { minLength: 1, maxLength: 30 }), async (terms) => {
        const catalog = new MemoryCatalog();
        let highest = 0n;
        let expected: WalCheckpoint | undefined;
        // Started together, as writers of different terms persisting at once would.
        const results = await Promise.all(
          terms.map((t, i) => catalog.saveCheckpoint('p', checkpoint(t, BigInt(i)))),
        );
        for (const [i, t] of terms.entries()) {
          const accepted = (t ?? 0n) >= highest;
          expect(results[i]).toBe(accepted);
          if (accepted) {
            highest = t ?? 0n;
            expected = checkpoint(t, BigInt(i));
          }
        }
        expect(await catalog.getCheckpoint('p')).toEqual(expected);
      }),
    );
  });
});
