import { memoryAdapter } from '@walstream/adapter-memory';
import { registerSemanticsConformance } from '@walstream/testkit';
import { describe, test } from 'vitest';
import { type SemanticsOptions, walSemantics } from '../src/index.js';

/** Short close waits: the suite closes and reopens WALs many times. */
const OPTIONS: SemanticsOptions = { timeTick: { closeTimeoutMs: 200 } };

// The memory adapter with injected append errors, behind the whole semantics stack. Half of the injected
// failures lose the acknowledgement of an append that was written, so the runtime's retry writes it twice:
// readers must still see it once.
registerSemanticsConformance(
  { describe, test },
  {
    suiteName: 'WAL semantics conformance: memory adapter + walSemantics()',
    adapter: () => memoryAdapter(),
    interceptors: () => walSemantics(OPTIONS),
    faults: (adapter, pchannel) => ({
      set: ({ appendErrorRate }) =>
        adapter.store
          .faults(pchannel)
          .set({ appendErrorRate: appendErrorRate / 2, lostAckRate: appendErrorRate / 2 }),
    }),
    // NUM_RUNS=300 for a soak; the default (20 schedules per property) keeps the suite near 10 s.
    ...(process.env.NUM_RUNS ? { numRuns: Number(process.env.NUM_RUNS) } : {}),
  },
);
