import type { Catalog, WalCheckpoint } from '@walstream/core';
import fc from 'fast-check';
import { check } from '../../runner/assert.js';
import { assertCovered, drawAsync } from '../../runner/property.js';
import type { CatalogCaseDefinition, CatalogTestContext } from '../types.js';
import { checkpoint, hops, stringify } from './fixtures.js';
import { same } from './records.js';

/** One drawn call: how many event-loop turns pass before it starts, and which handle makes it. */
interface Start {
  readonly hops: number;
  readonly handle: number;
}

interface CheckpointSave extends Start {
  readonly term: bigint | undefined;
}

interface MarkSave extends Start {
  readonly value: bigint;
}

const start = { hops: fc.nat({ max: 3 }), handle: fc.nat({ max: 1 }) };
const checkpointSaves: fc.Arbitrary<CheckpointSave[]> = fc.array(
  fc.record({ ...start, term: fc.option(fc.bigInt({ min: 0n, max: 4n }), { nil: undefined, freq: 5 }) }),
  { minLength: 2, maxLength: 10 },
);
const markSaves: fc.Arbitrary<MarkSave[]> = fc.array(
  fc.record({
    ...start,
    value: fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: 2n ** 70n })),
  }),
  { minLength: 2, maxLength: 10 },
);

/**
 * Reads `read` over and over until stopped, each read stamped with the logical time it started at: what
 * a process watching the store sees while the writers race.
 */
function poll<T>(clock: () => number, read: () => Promise<T>) {
  const reads: { readonly startedAt: number; readonly value: T }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const startedAt = clock();
      reads.push({ startedAt, value: await read() });
      // A macrotask turn per read: a catalog that answers in microtasks must not starve the writers.
      await hops(1);
    }
  })();
  return {
    reads,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

async function handlesOf(t: CatalogTestContext, shared: boolean): Promise<Catalog[]> {
  if (!shared) return [t.catalog];
  if (!t.concurrentHandles)
    t.skip('the options do not say handles may write concurrently (concurrentHandles)');
  return [t.catalog, await t.reopen()];
}

async function checkpointRace(t: CatalogTestContext, shared: boolean): Promise<void> {
  const handles = await handlesOf(t, shared);
  const seen = { 'a lower term refused': 0, 'saves of different terms in flight together': 0 };
  let run = 0;
  await drawAsync(
    'checkpoint saves at drawn terms, started interleaved',
    checkpointSaves,
    async (saves) => {
      const pchannel = `race-${++run}`;
      let time = 0;
      const clock = () => ++time;
      const called: number[] = [];
      const resolved: number[] = [];
      const results: boolean[] = [];
      const watcher = poll(clock, () => handles[0]!.getCheckpoint(pchannel));
      try {
        await Promise.all(
          saves.map(async (save, i) => {
            await hops(save.hops);
            called[i] = clock();
            const handle = handles[save.handle % handles.length]!;
            results[i] = await handle.saveCheckpoint(pchannel, checkpoint(save.term, BigInt(i)));
            resolved[i] = clock();
          }),
        );
      } finally {
        await watcher.stop();
      }
      const terms = saves.map((save) => save.term ?? 0n);
      const highest = terms.reduce((a, b) => (a > b ? a : b));
      const show = (i: number) => `save #${i} (term ${String(saves[i]!.term)})`;
      if (results.includes(false)) seen['a lower term refused']++;
      if (
        terms.some((a, i) =>
          terms.some((b, j) => a !== b && called[i]! < resolved[j]! && called[j]! < resolved[i]!),
        )
      ) {
        seen['saves of different terms in flight together']++;
      }
      for (const [i, term] of terms.entries()) {
        check(
          term < highest || results[i] === true,
          () => `${show(i)} has the highest term, yet resolved false`,
        );
        for (const [j, other] of terms.entries()) {
          check(
            !(results[j] === true && resolved[j]! < called[i]! && term < other && results[i] === true),
            () =>
              `${show(i)} resolved true although ${show(j)}, of a higher term, had been accepted before it started`,
          );
        }
      }
      const final = await handles[0]!.getCheckpoint(pchannel);
      check(final !== undefined, 'after the race the pchannel has no checkpoint');
      const winner = Number(final.timeTick);
      check(
        (final.term ?? 0n) === highest,
        () =>
          `after the race the stored term is ${String(final.term)}: ${show(winner)} overwrote a higher term`,
      );
      check(
        results[winner] === true,
        () => `the stored record is that of ${show(winner)}, which resolved false`,
      );
      same('the stored record', final, checkpoint(saves[winner]!.term, BigInt(winner)));
      let last = -1n;
      for (const read of watcher.reads) {
        const record: WalCheckpoint | undefined = read.value;
        const term = record === undefined ? -1n : (record.term ?? 0n);
        if (record !== undefined) {
          const writer = Number(record.timeTick);
          check(
            results[writer] === true,
            () => `a reader saw the record of ${show(writer)}, which resolved false`,
          );
        }
        check(term >= last, () => `a reader saw the stored term go down from ${last} to ${term}`);
        last = term;
        for (const [j, other] of terms.entries()) {
          check(
            !(results[j] === true && resolved[j]! < read.startedAt && term < other),
            () => `a read started after ${show(j)} resolved true saw term ${term}`,
          );
        }
      }
    },
    {
      numRuns: t.numRuns,
      seed: t.seed,
      describe: stringify,
      examples: [
        // A lower term started right behind a higher one, on each handle.
        [
          { term: 2n, hops: 0, handle: 0 },
          { term: 1n, hops: 0, handle: 1 },
          { term: undefined, hops: 1, handle: 0 },
        ],
        [
          { term: 1n, hops: 0, handle: 1 },
          { term: 3n, hops: 0, handle: 0 },
          { term: 2n, hops: 0, handle: 1 },
          { term: 3n, hops: 2, handle: 0 },
        ],
      ],
    },
  );
  assertCovered('checkpoint races', seen);
}

async function highWaterRace(t: CatalogTestContext, shared: boolean): Promise<void> {
  const handles = await handlesOf(t, shared);
  const seen = {
    'a lower mark saved after a higher one landed': 0,
    'saves of different marks in flight together': 0,
  };
  await drawAsync(
    'high-water saves of drawn values, started interleaved',
    markSaves,
    async (saves) => {
      // The mark is one per catalog: every run starts above what earlier runs left.
      const base = await handles[0]!.getTimestampHighWater();
      const values = saves.map((save) => base + save.value);
      let time = 0;
      const clock = () => ++time;
      const called: number[] = [];
      const resolved: number[] = [];
      const watcher = poll(clock, () => handles[0]!.getTimestampHighWater());
      try {
        await Promise.all(
          saves.map(async (save, i) => {
            await hops(save.hops);
            called[i] = clock();
            await handles[save.handle % handles.length]!.saveTimestampHighWater(values[i]!);
            resolved[i] = clock();
          }),
        );
      } finally {
        await watcher.stop();
      }
      const highest = values.reduce((a, b) => (a > b ? a : b));
      for (const [i, v] of values.entries()) {
        if (values.some((w, j) => w > v && resolved[j]! < called[i]!))
          seen['a lower mark saved after a higher one landed']++;
        if (values.some((w, j) => w !== v && called[i]! < resolved[j]! && called[j]! < resolved[i]!)) {
          seen['saves of different marks in flight together']++;
        }
      }
      const final = await handles[0]!.getTimestampHighWater();
      check(
        final === highest,
        () => `after the race the mark is ${final}, expected the highest saved, ${highest}`,
      );
      let last = base;
      for (const read of watcher.reads) {
        check(read.value >= last, () => `a reader saw the mark go down from ${last} to ${read.value}`);
        check(
          read.value === base || values.includes(read.value),
          () => `a reader saw the mark at ${read.value}, a value nobody saved`,
        );
        last = read.value;
        for (const [j, v] of values.entries()) {
          check(
            !(resolved[j]! < read.startedAt && read.value < v),
            () => `a read started after the save of ${v} resolved saw ${read.value}`,
          );
        }
      }
    },
    {
      numRuns: t.numRuns,
      seed: t.seed,
      describe: stringify,
      examples: [
        [
          { value: 10n, hops: 0, handle: 0 },
          { value: 5n, hops: 0, handle: 1 },
          { value: 7n, hops: 2, handle: 1 },
        ],
      ],
    },
  );
  assertCovered('high-water races', seen);
}

export const races: CatalogCaseDefinition[] = [
  {
    group: 'checkpoints',
    name: 'checkpoint saves racing at drawn terms: the highest term ends stored, a lower term resolves false and no reader sees its record',
    run: (t) => checkpointRace(t, false),
  },
  {
    group: 'timestamps',
    name: 'high-water saves racing: the mark ends at the highest and no reader sees it go down',
    run: (t) => highWaterRace(t, false),
  },
  {
    group: 'sharing',
    name: 'checkpoint saves racing through two handles: the highest term ends stored, a lower term resolves false and no reader sees its record',
    run: (t) => checkpointRace(t, true),
  },
  {
    group: 'sharing',
    name: 'high-water saves racing through two handles: the mark ends at the highest and no reader sees it go down',
    run: (t) => highWaterRace(t, true),
  },
];
