import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAdapter } from '@walstream/adapter-local';
import { type SemanticsOptions, walSemantics } from '@walstream/interceptors';
import { registerSemanticsConformance, withAppendFaults } from '@walstream/testkit';
import { afterAll, describe, test } from 'vitest';

/**
 * The WAL semantics suite (ordering, TimeTick contract, txns, resume, exclusive messages, recovery across
 * terms) through the full stack — `createWal().adapter(local).use(...walSemantics())` — on real files
 * with the default durability (`fsync`), small segments so logs roll during the schedules, and injected
 * append errors switched on and off by the schedules (`withAppendFaults`: an injected error rejects before
 * the adapter, so it never lands). Every stack's adapter reaches the same directory; the suite makes up
 * unique pchannel names. `NUM_RUNS` overrides the suite's 20 schedules per property, e.g. for a soak.
 */
const OPTIONS: SemanticsOptions = { timeTick: { closeTimeoutMs: 200 } };
const directory = mkdtempSync(join(tmpdir(), 'walstream-local-semantics-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

registerSemanticsConformance(
  { describe, test },
  {
    suiteName: 'WAL semantics conformance: local adapter (fsync, 16 KiB segments) + walSemantics()',
    adapter: () => withAppendFaults(localAdapter({ directory, segmentBytes: 16 * 1024 })),
    interceptors: () => walSemantics(OPTIONS),
    faults: (adapter, pchannel) => adapter.switchOf(pchannel),
    ...(process.env.NUM_RUNS ? { numRuns: Number(process.env.NUM_RUNS) } : {}),
  },
);
