import { LocalTimestampAllocator, MemoryCatalog, type TimestampAllocator } from '@walstream/core';
import { describe, expect, test } from 'vitest';
import {
  runTimestampAllocatorConformance,
  TIMESTAMP_ALLOCATOR_GROUPS,
  type TimestampAllocatorConformanceOptions,
  type TimestampAllocatorReport,
  timestampAllocatorCaseDefinitions,
} from '../src/index.js';
import {
  BackwardsEvery,
  CatalogTso,
  IgnoresBarrier,
  RacyAllocator,
  RewindsOnSync,
  SplitClocks,
} from './support/semantics-allocators.js';

const SEQUENTIAL = 'allocate() one call after another returns strictly increasing timeticks';
const CONCURRENT =
  'concurrent allocate() calls return distinct timeticks, each above every one returned before the call';
const MIXED =
  'allocate(), allocateNow(), sync() and barrierUntil() mixed never go backwards and honour each barrier';
const SYNC = 'after sync() the next timetick is above every earlier one';
const BARRIER = 'after barrierUntil(b) the next timetick is at least b';
const RESTART = 'a restarted allocator starts above every timetick the previous one handed out';

function names(report: TimestampAllocatorReport, status: 'passed' | 'failed' | 'skipped'): string[] {
  return report.results.filter((r) => r.status === status).map((r) => r.name);
}

function errorOf(report: TimestampAllocatorReport, name: string): string {
  const result = report.results.find((r) => r.name === name);
  return result?.error instanceof Error ? result.error.message : String(result?.error);
}

function failures(report: TimestampAllocatorReport): string {
  return report.results
    .filter((r) => r.status === 'failed')
    .map((r) => `${r.name}: ${r.error instanceof Error ? r.error.message : String(r.error)}`)
    .join('\n\n');
}

/** A TSO on a fresh catalog; its restart is a new instance on the same catalog. */
function tso(reserve = true): TimestampAllocatorConformanceOptions {
  return {
    allocator: () => new CatalogTso(new MemoryCatalog(), { reserve }),
    restart: (previous) => new CatalogTso((previous as CatalogTso).catalog, { reserve }),
  };
}

interface Broken {
  readonly title: string;
  readonly options: TimestampAllocatorConformanceOptions;
  readonly fails: readonly string[];
  /** Cases that must still pass: the suite names the broken promise rather than failing everything. */
  readonly passes: readonly string[];
  readonly says: RegExp;
}

const BROKEN: readonly Broken[] = [
  {
    title: 'an allocator that goes backwards once every 1 000 allocations',
    options: { allocator: () => new BackwardsEvery(1_000) },
    fails: [SEQUENTIAL, CONCURRENT, SYNC, BARRIER],
    passes: [],
    says: /allocate\(\) #1000 returned \d+, not above \d+, which allocate\(\) #999 returned before it was called \(\d+ lower: the allocator went backwards\)/,
  },
  {
    title: 'an allocator that forgets its high-water mark on sync()',
    options: { allocator: () => new RewindsOnSync() },
    fails: [SYNC, MIXED],
    passes: [SEQUENTIAL, CONCURRENT, BARRIER],
    says: /allocate(Now)?\(\) #\d+ right after sync\(\) returned \d+, not above \d+/,
  },
  {
    title: 'an allocator that ignores barrierUntil()',
    options: { allocator: () => new IgnoresBarrier() },
    fails: [BARRIER, MIXED],
    passes: [SEQUENTIAL, CONCURRENT, SYNC],
    says: /returned \d+, below the \d+ that barrierUntil\(\d+\) promised/,
  },
  {
    title: 'an allocator whose concurrent calls race (two get the same timetick)',
    options: { allocator: () => new RacyAllocator() },
    fails: [CONCURRENT],
    passes: [SEQUENTIAL, SYNC, BARRIER],
    says: /returned \d+, (which allocate\(\) #\d+ returned too|not above \d+, which allocate\(\) #\d+ returned before it was called \(the same timetick twice\))/,
  },
  {
    title: 'an allocator whose allocateNow() serves a cache behind allocate()',
    options: { allocator: () => new SplitClocks() },
    fails: [MIXED],
    passes: [SEQUENTIAL, CONCURRENT],
    says: /allocateNow\(\) #\d+ returned \d+, not above \d+, which allocate\(\) #\d+ returned before it was called/,
  },
  {
    title: 'a TSO that hands out timeticks before it saved its high-water mark',
    options: tso(false),
    fails: [RESTART],
    passes: [SEQUENTIAL, CONCURRENT, MIXED, SYNC, BARRIER],
    says: /a restarted allocator: allocate\(\) #\d+ returned \d+, not above \d+/,
  },
];

describe('the timestamp allocator suite', () => {
  test('has unique case names in known groups, every group with cases', () => {
    const all = timestampAllocatorCaseDefinitions.map((c) => c.name);
    expect(new Set(all).size).toBe(all.length);
    for (const group of TIMESTAMP_ALLOCATOR_GROUPS) {
      expect(
        timestampAllocatorCaseDefinitions.some((c) => c.group === group),
        group,
      ).toBe(true);
    }
  });

  test('LocalTimestampAllocator passes every case of one allocator; the restart case is skipped without `restart`', async () => {
    const report = await runTimestampAllocatorConformance({ allocator: () => new LocalTimestampAllocator() });
    expect(names(report, 'failed'), failures(report)).toEqual([]);
    expect(names(report, 'skipped')).toEqual([RESTART]);
    expect(report.passed).toBe(timestampAllocatorCaseDefinitions.length - 1);
  }, 60_000);

  test('a TSO that saves its high-water mark before handing out passes every case, the restart included', async () => {
    const report = await runTimestampAllocatorConformance(tso());
    expect(names(report, 'failed'), failures(report)).toEqual([]);
    expect(report.passed).toBe(timestampAllocatorCaseDefinitions.length);
  }, 60_000);

  test.each(BROKEN.map((broken) => [broken.title, broken] as const))(
    'catches %s',
    async (_title, broken) => {
      const report = await runTimestampAllocatorConformance(broken.options);
      expect(names(report, 'failed'), failures(report)).toEqual(expect.arrayContaining([...broken.fails]));
      expect(errorOf(report, broken.fails[0]!)).toMatch(broken.says);
      expect(names(report, 'passed')).toEqual(expect.arrayContaining([...broken.passes]));
    },
    60_000,
  );

  test('rejects options without an allocator and counts that are not positive integers', () => {
    expect(() =>
      runTimestampAllocatorConformance({} as unknown as TimestampAllocatorConformanceOptions),
    ).toThrow(/`allocator` must be a function/);
    const allocator = (): TimestampAllocator => new LocalTimestampAllocator();
    expect(() => runTimestampAllocatorConformance({ allocator, allocations: 0 })).toThrow(
      /allocations must be a positive integer, got 0/,
    );
  });
});
