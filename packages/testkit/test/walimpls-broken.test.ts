/**
 * The classes of broken adapters the walimpls suite once let through, each caught by a named case. Every
 * broken adapter differs from the memory adapter in one bug, so the case that catches it is the proof.
 */
import { MemoryLogStore } from '@walstream/adapter-memory';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { describe, expect, test } from 'vitest';
import {
  backpressure,
  basics,
  type ConformanceReport,
  deliverPolicy,
  errors,
  fencing,
  runWalImplsConformance,
  scannerLifecycle,
  truncate,
  type WalImplsCaseDefinition,
  type WalImplsConformanceOptions,
} from '../src/index.js';
import {
  abortsAfterWritingAdapter,
  aliasingAdapter,
  countingAdapter,
  cutsAtNulAdapter,
  dropsStaleAppendsAdapter,
  fencedAfterLandingAdapter,
  fencedAsUnavailableAdapter,
  hiddenQueueAdapter,
  ignoresReadSignalAdapter,
  type Pulls,
  refusesTruncatedStartAdapter,
  skipsPageStartAdapter,
  staleWriteLandsAdapter,
  startAfterLastRedeliversAdapter,
  writesAfterCloseAdapter,
} from './support/broken-contracts.js';
import {
  flavouredIdsAdapter,
  idSpaceOf,
  neighboursOnlyIds,
  notAntisymmetricIds,
  soundIds,
  threeByteMarshalIds,
  wrappingCompareIds,
} from './support/broken-ids.js';

const FAST: Partial<WalImplsConformanceOptions> = { messageCount: 40, timeoutMs: 5_000 };

const START_FROM = 'startFrom(id) resumes at the id, inclusive';
const START_AFTER = 'startAfter(id) resumes after the id, exclusive';
const MARSHALLED = 'startFrom and startAfter accept ids that went through marshal and unmarshal';
const IDS = 'append returns strictly increasing ids of this adapter';
const CODEC = 'ids round-trip through the MessageID registry';
const ID_RANGE = "ids across the adapter's whole range compare and round-trip like their positions";
const DRAWN = 'messages of drawn payload sizes and properties are read back exactly';
const ALIAS =
  'append stores the message as it was: later changes to the caller message do not reach the log, and append leaves it unchanged';
const ABORTED = 'append with an aborted signal rejects ABORTED';
const ABORT_IN_FLIGHT = 'an append whose signal fires in flight lands if it resolves and not if it rejects';
const CLOSED_WAL = 'a closed WAL rejects append, read and truncate with CLOSED';
const SLOW_CONSUMER = 'a slow consumer keeps buffered at or below readAheadBufferSize';
const PROBE = 'a reader that is not consumed stops taking entries from the store';
const FENCED = 'opening term T+1 fences the term-T writer, and its rejected append does not land';
const STALE = 'concurrent stale appends all fail while the new term writes on';
const FROZEN = 'a writer frozen while a newer term opens and writes tells its callers what landed';
const NO_FENCING =
  'without fencing, a term-T append after term T+1 opened lands if it resolves and not if it rejects';
const ABORT_READ = 'aborting the read signal closes the scanner';
const TRUNCATED = 'startFrom and startAfter a truncated id start at the first entry kept';

async function run(
  adapter: (store: MemoryLogStore) => WalImplsBuilder,
  cases: readonly WalImplsCaseDefinition[],
  options: Partial<WalImplsConformanceOptions> = {},
): Promise<ConformanceReport> {
  const store = new MemoryLogStore();
  return runWalImplsConformance({ ...FAST, ...options, cases, builder: () => adapter(store) });
}

function names(report: ConformanceReport, status: 'passed' | 'failed' | 'skipped'): string[] {
  return report.results.filter((r) => r.status === status).map((r) => r.name);
}

function errorOf(report: ConformanceReport, name: string): string {
  const result = report.results.find((r) => r.name === name);
  return result?.error instanceof Error ? result.error.message : String(result?.error);
}

function only(...wanted: string[]): WalImplsCaseDefinition[] {
  const all = [
    ...basics,
    ...deliverPolicy,
    ...scannerLifecycle,
    ...backpressure,
    ...errors,
    ...truncate,
    ...fencing,
  ];
  return wanted.map((name) => {
    const found = all.find((c) => c.name === name);
    if (!found) throw new Error(`no case ${name}`);
    return found;
  });
}

describe('positions are drawn', () => {
  test('a read that starts on a 32-entry page boundary and skips its first entry fails the position cases', async () => {
    const report = await run(skipsPageStartAdapter, deliverPolicy);
    expect(names(report, 'failed').sort()).toEqual([MARSHALLED, START_AFTER, START_FROM].sort());
    expect(errorOf(report, START_FROM)).toMatch(
      /startFrom\(memory:32\).*expected memory:32[\s\S]*on entry #32/,
    );
    expect(errorOf(report, START_FROM)).toMatch(/replay with the option \{ seed: -?\d+ \}/);
  });

  test('startAfter(the last id in the log) delivering that id again fails the startAfter case', async () => {
    const report = await run(startAfterLastRedeliversAdapter, deliverPolicy);
    expect(names(report, 'failed').sort()).toEqual([MARSHALLED, START_AFTER].sort());
    expect(errorOf(report, START_AFTER)).toMatch(/the last entry of the log/);
  });
});

describe('MessageIDs are checked on drawn pairs across their whole range', () => {
  const idCases = only(IDS, CODEC, ID_RANGE);

  test('ids done right pass, wrapped in the same way as the broken ones', async () => {
    const report = await run((store) => flavouredIdsAdapter(soundIds, store), idCases, {
      messageIds: idSpaceOf(soundIds),
    });
    expect(names(report, 'passed')).toEqual([IDS, CODEC, ID_RANGE]);
  });

  test.each([
    [
      'a compare that wraps for differences of 512 or more',
      wrappingCompareIds,
      /antisymmetric|expected [<>] 0/,
    ],
    ['a compare that is not antisymmetric', notAntisymmetricIds, /must be antisymmetric/],
    ['a compare that is right only for neighbours', neighboursOnlyIds, /antisymmetric|expected [<>] 0/],
    [
      'a marshal that loses information for offsets of 2^24 and more',
      threeByteMarshalIds,
      /loses information/,
    ],
  ])('%s fails the id range case', async (_, ids, message) => {
    const report = await run((store) => flavouredIdsAdapter(ids, store), idCases, {
      messageIds: idSpaceOf(ids),
    });
    expect(names(report, 'failed')).toContain(ID_RANGE);
    expect(errorOf(report, ID_RANGE)).toMatch(message);
    expect(errorOf(report, ID_RANGE)).toMatch(/ids from the messageIds option, pairs of positions: run \d+/);
  });

  test('without the messageIds option, a compare right only for neighbours still fails on the ids the suite appends', async () => {
    const report = await run((store) => flavouredIdsAdapter(neighboursOnlyIds, store), idCases);
    expect(names(report, 'failed')).toEqual([IDS, CODEC]);
    expect(names(report, 'skipped')).toEqual([ID_RANGE]);
    expect(errorOf(report, IDS)).toMatch(/pairs of ids appended one after the other/);
  });

  test('the ids every case appends are checked too: a case that never looks at ids fails on them', async () => {
    const report = await run((store) => flavouredIdsAdapter(neighboursOnlyIds, store), only(SLOW_CONSUMER));
    expect(names(report, 'failed')).toEqual([SLOW_CONSUMER]);
    expect(errorOf(report, SLOW_CONSUMER)).toMatch(/the ids appended on wsconf_slow_\w+ in this case/);
  });
});

describe('what an append stores', () => {
  test('stored properties that alias the caller message fail the aliasing case', async () => {
    const report = await run(aliasingAdapter, basics);
    expect(names(report, 'failed')).toEqual([ALIAS]);
    expect(errorOf(report, ALIAS)).toMatch(
      /property "stage" = "changed after the last append", expected "first"/,
    );
  });

  test('property values cut at a NUL character fail the drawn messages case', async () => {
    const report = await run(cutsAtNulAdapter, basics);
    expect(names(report, 'failed')).toEqual([DRAWN]);
  });
});

describe('every error case reads back what landed', () => {
  test('an aborted append that is written and then rejected ABORTED fails both abort cases', async () => {
    const report = await run(abortsAfterWritingAdapter, errors);
    expect(names(report, 'failed')).toEqual([ABORTED, ABORT_IN_FLIGHT]);
    expect(errorOf(report, ABORTED)).toMatch(
      /the log after the append rejected ABORTED, message #1: delivered memory:1 \(key 1:1\), expected memory:2 \(key marker:aborted-end\)/,
    );
  });

  test('an append on a closed WAL that is written and then rejected CLOSED fails the closed-WAL case', async () => {
    const report = await run(writesAfterCloseAdapter, errors);
    expect(names(report, 'failed')).toEqual([CLOSED_WAL]);
  });

  test('a stale append that lands and is rejected with a retriable error fails the fencing cases', async () => {
    const report = await run(staleWriteLandsAdapter, fencing);
    expect(names(report, 'failed')).toEqual([FENCED, STALE, FROZEN]);
    expect(errorOf(report, STALE)).toMatch(/the log after the stale appends/);
  });

  test('fenced appends rejected UNAVAILABLE (retriable) instead of CHANNEL_FENCED fail the frozen-writer case', async () => {
    const report = await run(
      fencedAsUnavailableAdapter,
      fencing.filter((c) => c.name === FROZEN),
    );
    expect(names(report, 'failed')).toEqual([FROZEN]);
    expect(errorOf(report, FROZEN)).toMatch(/rejected with UNAVAILABLE .*expected CHANNEL_FENCED/);
  });

  test('appends that landed yet are answered CHANNEL_FENCED fail the frozen-writer case', async () => {
    const report = await run(
      fencedAfterLandingAdapter,
      fencing.filter((c) => c.name === FROZEN),
    );
    expect(names(report, 'failed')).toEqual([FROZEN]);
    expect(errorOf(report, FROZEN)).toMatch(/was rejected CHANNEL_FENCED \(not written\) yet is in the log/);
  });

  test('without fencing, a stale append that resolves and does not land fails the case for adapters without fencing', async () => {
    const report = await run(dropsStaleAppendsAdapter, fencing);
    expect(names(report, 'skipped')).toEqual([FENCED, STALE, FROZEN]);
    expect(names(report, 'failed')).toEqual([NO_FENCING]);
    expect(errorOf(report, NO_FENCING)).toMatch(
      /the log after appends of both terms .*message #2: memory:2 \(key 1:100\)/,
    );
  });
});

describe('backpressure is measured outside the scanner', () => {
  test('a hidden unbounded queue behind a capped buffered passes the buffered case and fails the store probe case', async () => {
    const pulls: Pulls = new Map();
    const report = await run((store) => hiddenQueueAdapter(pulls, store), backpressure, {
      storeProbe: { fetched: (pchannel) => pulls.get(pchannel) ?? 0 },
    });
    expect(names(report, 'passed')).toContain(SLOW_CONSUMER);
    expect(names(report, 'failed')).toEqual([PROBE]);
    expect(errorOf(report, PROBE)).toMatch(
      /while nothing is consumed, .* the reader took 8\d entries from the store/,
    );
  });

  test('the same reader without the hidden queue passes the store probe case', async () => {
    const pulls: Pulls = new Map();
    const report = await run((store) => countingAdapter(pulls, store), only(PROBE), {
      storeProbe: { fetched: (pchannel) => pulls.get(pchannel) ?? 0 },
    });
    expect(names(report, 'passed')).toEqual([PROBE]);
  });

  test('a store probe that counts nothing fails the case instead of passing it trivially', async () => {
    const report = await run((store) => countingAdapter(new Map(), store), only(PROBE), {
      storeProbe: { fetched: () => 0 },
    });
    expect(names(report, 'failed')).toEqual([PROBE]);
    expect(errorOf(report, PROBE)).toMatch(/does not count what readers take from the store/);
  });
});

describe('signals and truncated ids', () => {
  test('a scanner that ignores its read signal fails the abort case', async () => {
    const report = await run(ignoresReadSignalAdapter, scannerLifecycle, { timeoutMs: 1_000 });
    expect(names(report, 'failed')).toEqual([ABORT_READ]);
    expect(errorOf(report, ABORT_READ)).toMatch(
      /gave up waiting for the pending next\(\) to end after the read signal aborted/,
    );
  });

  test('a reader refused at a truncated id fails the truncated-id case', async () => {
    const report = await run(refusesTruncatedStartAdapter, truncate);
    expect(names(report, 'failed')).toEqual([TRUNCATED]);
    expect(errorOf(report, TRUNCATED)).toMatch(
      /after truncate\(entry #\d\): read\(\) rejected with INVALID_ARGUMENT .* expected a reader that starts at the first entry kept/,
    );
  });
});
