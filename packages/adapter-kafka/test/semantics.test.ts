import { type SemanticsOptions, walSemantics } from '@walstream/interceptors';
import { registerSemanticsConformance, withAppendFaults } from '@walstream/testkit';
import { beforeEach, describe, test } from 'vitest';
import { adapterFor, showBrokerLogOnFailure } from './helpers.js';

/**
 * The WAL semantics suite (ordering, TimeTick contract, txns, resume, exclusive messages, recovery
 * across terms) through the full stack — `createWal().adapter(kafka).use(...walSemantics())` — against
 * the run's real broker with the default (transactional) fencing, with injected append errors switched
 * on and off by the schedules (`withAppendFaults` from the testkit: an injected error rejects before the
 * producer, so it never lands).
 *
 * Runs on the recommended driver, platformatic, by default; `pnpm test:kafka-drivers` runs it on kafkajs
 * too (both drivers run the walimpls conformance suite in every run). Sized for a real broker on two
 * cores: every stack creates topics and opens a transactional producer per pchannel, so each property
 * gets few runs — 6, the fewest with which the cases' coverage checks (an expired txn, a reopening over a
 * live WAL, ...) were met in our runs; 2 or 4 missed them at times (`NUM_RUNS` overrides, e.g.
 * `NUM_RUNS=20` for a soak). The suite takes ~110-145 s per driver on two cores: the second driver's run
 * left CI to keep the whole suite under 20 minutes.
 */
const OPTIONS: SemanticsOptions = { timeTick: { closeTimeoutMs: 200 } };
const NUM_RUNS = Number(process.env.NUM_RUNS ?? 6);
const DRIVERS = (process.env.KAFKA_SEMANTICS_DRIVERS ?? 'platformatic').split(',') as (
  | 'kafkajs'
  | 'platformatic'
)[];

beforeEach(() => showBrokerLogOnFailure());

for (const driver of DRIVERS) {
  registerSemanticsConformance(
    { describe, test },
    {
      suiteName: `WAL semantics conformance: kafka adapter (${driver}) + walSemantics() on a real broker`,
      adapter: () => withAppendFaults(adapterFor(driver)),
      interceptors: () => walSemantics(OPTIONS),
      faults: (builder, pchannel) => builder.switchOf(pchannel),
      numRuns: NUM_RUNS,
      timeoutMs: 120_000,
    },
  );
}
