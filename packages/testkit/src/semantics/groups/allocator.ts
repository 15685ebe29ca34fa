import {
  concurrentAllocations,
  generatedAllocations,
  Returned,
  sequentialAllocations,
} from '../allocator/contract.js';
import type { SemanticsCaseDefinition } from '../types.js';

/** Allocations the case makes: far more than any schedule, so a rare step back shows. */
const SEQUENTIAL = 3_000;
const CONCURRENT = 3_000;
const MIXED = 4_000;

/**
 * The stack's timestamp allocator (the `allocator` option), on its own: no schedule makes enough
 * allocations to meet a fault that comes once in a thousand. The full contract, with a restart, is the
 * timestamp allocator suite (`registerTimestampAllocatorConformance`).
 */
export const allocator: readonly SemanticsCaseDefinition[] = [
  {
    group: 'allocator',
    name: 'the timestamp allocator never goes backwards: 10 000 allocations, one after another, concurrent, and mixed with allocateNow(), sync() and barrierUntil()',
    async run(t) {
      const returned = new Returned("the stack's timestamp allocator");
      const one = t.allocator();
      await sequentialAllocations(one, returned, SEQUENTIAL, t.signal);
      await concurrentAllocations(one, returned, CONCURRENT, 64, t.signal);
      const mixed = await generatedAllocations(
        () => t.allocator(),
        "the stack's timestamp allocator",
        MIXED,
        {
          signal: t.signal,
        },
      );
      mixed.coverage.require(...mixed.required);
    },
  },
];
