import { MemoryLogStore, MemoryMessageId, memoryAdapter } from '@walstream/adapter-memory';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { ArrayId, ArrayStore, arrayAdapter } from '@walstream/testkit/reference';
import { describe, expect, test } from 'vitest';
import {
  type ConformanceReport,
  errors,
  reopen,
  runWalImplsConformance,
  WALIMPLS_GROUPS,
  type WalImplsConformanceOptions,
  walimplsCaseDefinitions,
} from '../src/index.js';
import {
  acceptsAnyReadAheadAdapter,
  type Disk,
  diskCachingAdapter,
  dropsEmptyPropertiesAdapter,
  failingCloseAdapter,
  ignoresStartAfterAdapter,
  losesLastMessageAdapter,
  nonFencingAdapter,
  reorderingAdapter,
  silentScannerAdapter,
  unboundedReadAheadAdapter,
  utf8PayloadAdapter,
} from './support/broken-adapters.js';

/** Small enough that a broken adapter's timeouts stay cheap; large enough that every case means something. */
const FAST: Partial<WalImplsConformanceOptions> = { messageCount: 40, timeoutMs: 1_500 };

/**
 * Runs the suite on builders from `adapter`, all over one memory store: the suite's reopen cases read
 * through a fresh builder what an earlier one wrote.
 */
async function run(
  adapter: (store: MemoryLogStore) => WalImplsBuilder,
  options: Partial<WalImplsConformanceOptions> = {},
) {
  const store = new MemoryLogStore();
  return runWalImplsConformance({ ...FAST, ...options, builder: () => adapter(store) });
}

function names(report: ConformanceReport, status: 'passed' | 'failed' | 'skipped'): string[] {
  return report.results.filter((r) => r.status === status).map((r) => r.name);
}

function errorOf(report: ConformanceReport, name: string): string {
  const result = report.results.find((r) => r.name === name);
  return result?.error instanceof Error ? result.error.message : String(result?.error);
}

const ALL = 'all delivers every message from the first';
const READ_WRITE = '3 pchannels x 3 terms: concurrent appends and two full scans agree';
const START_FROM = 'startFrom(id) resumes at the id, inclusive';
const START_AFTER = 'startAfter(id) resumes after the id, exclusive';
const ROUND_TRIP = 'a message is read back with its id, payload bytes and properties';
const SLOW_CONSUMER = 'a slow consumer keeps buffered at or below readAheadBufferSize';
const FENCED = 'opening term T+1 fences the term-T writer, and its rejected append does not land';
const REOPEN_RO = 'a fresh builder reads back, read-only, what a closed writer wrote';
const REOPEN_RW = 'a fresh builder writes on after the old ids and resumes from a marshalled id';
const BAD_READ = 'read rejects bad options with INVALID_ARGUMENT and starts nothing';
const ID_RANGE = "ids across the adapter's whole range compare and round-trip like their positions";
const PROBE = 'a reader that is not consumed stops taking entries from the store';
const NO_FENCING =
  'without fencing, a term-T append after term T+1 opened lands if it resolves and not if it rejects';

/** Every memory id, for the id range case. */
const MEMORY_IDS = {
  max: BigInt(Number.MAX_SAFE_INTEGER),
  at: (position: bigint) => new MemoryMessageId(Number(position)),
};

describe('the walimpls suite', () => {
  test('has unique case names in known groups', () => {
    const all = walimplsCaseDefinitions.map((c) => c.name);
    expect(new Set(all).size).toBe(all.length);
    for (const c of walimplsCaseDefinitions) expect(WALIMPLS_GROUPS).toContain(c.group);
    for (const group of WALIMPLS_GROUPS) {
      expect(
        walimplsCaseDefinitions.some((c) => c.group === group),
        group,
      ).toBe(true);
    }
  });

  test('the memory adapter passes every case, fencing included; without a store probe that case is skipped', async () => {
    const store = new MemoryLogStore();
    const report = await runWalImplsConformance({
      builder: () => memoryAdapter({ store }),
      messageIds: MEMORY_IDS,
    });
    expect(
      names(report, 'failed'),
      report.results.map((r) => `${r.name}: ${String(r.error)}`).join('\n'),
    ).toEqual([]);
    // The memory adapter fences, so the case for adapters without fencing is skipped.
    expect(names(report, 'skipped')).toEqual([PROBE, NO_FENCING]);
    expect(report.passed).toBe(walimplsCaseDefinitions.length - 2);
  });

  test('the adapter built in docs/write-an-adapter.md passes every case, with its ids and its store probe', async () => {
    const store = new ArrayStore();
    const report = await runWalImplsConformance({
      builder: () => arrayAdapter({ store }),
      messageIds: { max: BigInt(Number.MAX_SAFE_INTEGER), at: (position) => new ArrayId(Number(position)) },
      storeProbe: { fetched: (pchannel) => store.log(pchannel).fetched },
    });
    expect(
      names(report, 'failed'),
      report.results.map((r) => `${r.name}: ${String(r.error)}`).join('\n'),
    ).toEqual([]);
    expect(names(report, 'skipped')).toEqual([NO_FENCING]);
    expect(report.passed).toBe(walimplsCaseDefinitions.length - 1);
  });

  test('catches a scanner that reorders deliveries', async () => {
    const report = await run(reorderingAdapter);
    const failed = names(report, 'failed');
    expect(failed).toEqual(expect.arrayContaining([READ_WRITE, ALL, START_FROM, ROUND_TRIP]));
    expect(errorOf(report, READ_WRITE)).toMatch(/does not come after|expected memory:/);
    // The bug is in delivery order only: what does not read more than one message still passes.
    expect(names(report, 'passed')).toEqual(
      expect.arrayContaining([
        'open echoes the channel name, term and access mode',
        'append returns strictly increasing ids of this adapter',
      ]),
    );
  });

  test('catches startAfter treated as startFrom', async () => {
    const report = await run(ignoresStartAfterAdapter);
    const failed = names(report, 'failed');
    expect(failed).toContain(START_AFTER);
    expect(errorOf(report, START_AFTER)).toMatch(
      /startAfter\(memory:\d+\).*delivered memory:\d+.*expected memory:\d+/s,
    );
    expect(names(report, 'passed')).toEqual(expect.arrayContaining([START_FROM, ALL, READ_WRITE]));
  });

  test('catches a reader that loses the last message in the log', async () => {
    const report = await run(losesLastMessageAdapter);
    const failed = names(report, 'failed');
    expect(failed).toEqual(expect.arrayContaining([READ_WRITE, ALL, START_FROM, START_AFTER]));
    expect(errorOf(report, ALL)).toMatch(/delivered memory:\d+.*expected memory:\d+|missing/s);
  });

  test('catches an unbounded read-ahead', async () => {
    const report = await run(unboundedReadAheadAdapter);
    expect(names(report, 'failed')).toContain(SLOW_CONSUMER);
    expect(errorOf(report, SLOW_CONSUMER)).toMatch(/the read-ahead is not bounded/);
    expect(names(report, 'passed')).toEqual(expect.arrayContaining([ALL, READ_WRITE]));
  });

  test('catches payload bytes mangled through a UTF-8 string', async () => {
    const report = await run(utf8PayloadAdapter);
    expect(names(report, 'failed')).toEqual(expect.arrayContaining([ROUND_TRIP, READ_WRITE, ALL]));
    expect(errorOf(report, ROUND_TRIP)).toMatch(/other payload bytes/);
  });

  test('catches dropped empty property values', async () => {
    const report = await run(dropsEmptyPropertiesAdapter);
    expect(names(report, 'failed')).toEqual(expect.arrayContaining([ROUND_TRIP, READ_WRITE]));
    expect(errorOf(report, ROUND_TRIP)).toMatch(/property "(empty|_lcs)" = undefined, expected ""/);
  });

  test('catches an adapter that declares fencing and does not fence', async () => {
    const report = await run(nonFencingAdapter);
    expect(names(report, 'failed')).toEqual(
      expect.arrayContaining([FENCED, 'concurrent stale appends all fail while the new term writes on']),
    );
    expect(errorOf(report, FENCED)).toMatch(/expected a rejection coded CHANNEL_FENCED, but it resolved/);
  });

  test('skips fencing when the adapter does not declare it, or the caller turns it off', async () => {
    const declared = await run(
      (store) => nonFencingAdapter(store, { truncate: 'physical', fencing: false }),
      {
        groups: { readWrite: false },
      },
    );
    expect(names(declared, 'failed')).toEqual([]);
    // The fencing cases skip; the one for adapters without fencing runs instead.
    expect(declared.results.filter((r) => r.group === 'fencing').map((r) => r.status)).toEqual([
      'skipped',
      'skipped',
      'skipped',
      'passed',
    ]);
    const overridden = await run(nonFencingAdapter, {
      capabilities: { fencing: false },
      groups: { readWrite: false },
    });
    expect(names(overridden, 'failed')).toEqual([]);
  });

  test('catches an adapter that reads from a per-builder cache over a broken file format', async () => {
    const disk: Disk = new Map();
    const report = await runWalImplsConformance({ ...FAST, builder: () => diskCachingAdapter(disk) });
    // Every case that reads through the builder that wrote passes: only reopening through a fresh one
    // finds the records on disk mangled.
    expect(names(report, 'failed').sort()).toEqual(reopen.map((c) => c.name).sort());
    expect(errorOf(report, REOPEN_RO)).toMatch(
      /all read-only through a fresh builder, message #\d+: .* was delivered with property "[^"]+" = "[^"]*", expected/,
    );
    expect(errorOf(report, REOPEN_RW)).toMatch(/was delivered with property/);
    expect(names(report, 'skipped')).toEqual([ID_RANGE, PROBE, NO_FENCING]);
    expect(report.passed).toBe(walimplsCaseDefinitions.length - reopen.length - 3);
  });

  test('a builder factory that makes a new store each call fails the reopen cases, naming the factory', async () => {
    const report = await runWalImplsConformance({ ...FAST, builder: () => memoryAdapter(), cases: reopen });
    expect(names(report, 'failed')).toEqual(reopen.map((c) => c.name));
    for (const c of reopen) {
      expect(errorOf(report, c.name)).toMatch(
        /builder factory must return builders over the same backing store/,
      );
    }
  });

  test('catches a read() that accepts a bad readAheadBufferSize', async () => {
    const report = await run(acceptsAnyReadAheadAdapter, { cases: errors });
    expect(names(report, 'failed')).toEqual([BAD_READ]);
    expect(errorOf(report, BAD_READ)).toMatch(
      /read with readAheadBufferSize 0: read\(\) resolved scanner "scanner\d+", expected a rejection coded INVALID_ARGUMENT/,
    );
  });

  test('fails a case that hangs within its time budget, naming the step', async () => {
    const started = performance.now();
    const report = await run(silentScannerAdapter, {
      timeoutMs: 300,
      cases: walimplsCaseDefinitions.filter((c) => c.name === ALL),
    });
    expect(names(report, 'failed')).toEqual([ALL]);
    expect(errorOf(report, ALL)).toMatch(
      /gave up waiting for reading all on .* until the end marker \(after 0 messages\)/,
    );
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  test('reports a close() that rejects as a failure of the case', async () => {
    const report = await run(failingCloseAdapter, {
      cases: walimplsCaseDefinitions.filter((c) => c.group === 'basics'),
    });
    expect(names(report, 'failed')).toContain('open echoes the channel name, term and access mode');
    expect(errorOf(report, 'read echoes the scanner name')).toMatch(
      /cleanup after .* failed:\n.*closing WAL .*close failed on purpose/s,
    );
  });
});
