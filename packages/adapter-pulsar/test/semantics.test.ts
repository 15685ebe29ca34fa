import { type SemanticsOptions, walSemantics } from '@walstream/interceptors';
import { registerSemanticsConformance, withAppendFaults } from '@walstream/testkit';
import { describe, test } from 'vitest';
import { adapter } from './env.js';

/**
 * The WAL semantics suite (ordering, TimeTick contract, txns, resume, exclusive messages, recovery
 * across terms) through the full stack — `createWal().adapter(pulsar).use(...walSemantics())` — against
 * the real Pulsar standalone of this test run, with injected append errors switched on and off by the
 * schedules (`withAppendFaults` from the testkit: an injected error rejects before the producer).
 *
 * Sized for a real broker on two cores: every stack creates a topic over the admin API and every reader
 * is a broker subscription, so each property gets 10 generated schedules instead of the suite's 20
 * (about half a minute in all; the suite's covering examples and extra batches keep coverage
 * independent of the count). `NUM_RUNS` overrides, e.g. `NUM_RUNS=50` for a soak. Short close waits,
 * as in the memory run: the suite closes and reopens WALs often.
 */
const OPTIONS: SemanticsOptions = { timeTick: { closeTimeoutMs: 200 } };
const NUM_RUNS = Number(process.env.NUM_RUNS ?? 10);

registerSemanticsConformance(
  { describe, test },
  {
    suiteName: 'WAL semantics conformance: pulsar adapter + walSemantics() on a real standalone',
    adapter: () => withAppendFaults(adapter()),
    interceptors: () => walSemantics(OPTIONS),
    faults: (builder, pchannel) => builder.switchOf(pchannel),
    numRuns: NUM_RUNS,
    timeoutMs: 120_000,
  },
);
