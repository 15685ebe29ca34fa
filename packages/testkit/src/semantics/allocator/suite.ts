import { type TimestampAllocator, WalError } from '@walstream/core';
import { CaseSkipped, ConformanceFailure, describeError } from '../../runner/assert.js';
import {
  bindCases,
  positiveOption,
  registerCases,
  runCases,
  type SuiteSpec,
  validateSelection,
} from '../../runner/cases.js';
import { runWithDeadline } from '../../runner/run-case.js';
import type {
  BoundCase,
  CaseDefinition,
  CaseSelection,
  SuiteCaseResult,
  SuiteReport,
  TestRegistrar,
} from '../../runner/types.js';
import { concurrentAllocations, generatedAllocations, Returned, sequentialAllocations } from './contract.js';

/** The groups of the allocator suite: the contract of one allocator, and across a restart. */
export const TIMESTAMP_ALLOCATOR_GROUPS = ['allocator', 'restart'] as const;

export type TimestampAllocatorGroupName = (typeof TIMESTAMP_ALLOCATOR_GROUPS)[number];

/** What an allocator case runs with. */
export interface TimestampAllocatorTestContext {
  /** Aborts when the case runs out of time. */
  readonly signal: AbortSignal;
  /** Allocations each case makes (at least). */
  readonly allocations: number;
  /** Calls made together in the concurrent waves. */
  readonly concurrency: number;
  /** fast-check seed of the generated sequences, to replay a failure. */
  readonly seed: number | undefined;
  /** A fresh allocator from the options. */
  allocator(): Promise<TimestampAllocator>;
  /** The allocator a restarted process gets after `previous`; undefined when the options give none. */
  readonly restart: ((previous: TimestampAllocator) => Promise<TimestampAllocator>) | undefined;
  /** Ends the case as skipped. */
  skip(reason: string): never;
}

export type TimestampAllocatorCaseDefinition = CaseDefinition<
  TimestampAllocatorGroupName,
  TimestampAllocatorTestContext
>;

export interface TimestampAllocatorConformanceOptions extends CaseSelection<TimestampAllocatorGroupName> {
  /** Makes the allocator under test; called for each case (and each generated sequence). */
  allocator: () => TimestampAllocator | Promise<TimestampAllocator>;
  /**
   * The allocator of a process restarted after `previous` handed out timeticks (a TSO started again on
   * the same high-water mark, e.g. a new instance on the same catalog). With it the restart case checks
   * that it starts above everything `previous` returned; without it that case is skipped.
   */
  restart?: (previous: TimestampAllocator) => TimestampAllocator | Promise<TimestampAllocator>;
  /** Allocations per case. Default 10 000. */
  allocations?: number;
  /** Calls made together in a concurrent wave. Default 64. */
  concurrency?: number;
  /** fast-check seed, to replay a failure the suite reported. */
  seed?: number;
  /** Time budget of one case. Default 60 000 ms. */
  timeoutMs?: number;
  /** The cases to run; default every case. */
  cases?: readonly TimestampAllocatorCaseDefinition[];
}

export type TimestampAllocatorConformanceCase = BoundCase<TimestampAllocatorGroupName>;
export type TimestampAllocatorCaseResult = SuiteCaseResult<TimestampAllocatorGroupName>;
export type TimestampAllocatorReport = SuiteReport<TimestampAllocatorGroupName>;

const SUITE: SuiteSpec<TimestampAllocatorGroupName> = {
  label: 'timestamp allocator conformance',
  groups: TIMESTAMP_ALLOCATOR_GROUPS,
  suiteName: 'timestamp allocator conformance',
  testMarginMs: 1_000,
};

const MS = 1n << 18n;

/** How far ahead of the highest timetick so far a barrier asks: 1 to 2 ms, varied. */
function barrierAhead(i: number): bigint {
  return MS + ((BigInt(i) * 7919n) % MS);
}

/** The contract of `TimestampAllocator`, one case per promise. */
export const timestampAllocatorCaseDefinitions: readonly TimestampAllocatorCaseDefinition[] = [
  {
    group: 'allocator',
    name: 'allocate() one call after another returns strictly increasing timeticks',
    async run(t) {
      const returned = new Returned('allocate() one after another');
      await sequentialAllocations(await t.allocator(), returned, t.allocations, t.signal);
    },
  },
  {
    group: 'allocator',
    name: 'concurrent allocate() calls return distinct timeticks, each above every one returned before the call',
    async run(t) {
      const returned = new Returned(`allocate() in waves of ${t.concurrency}`);
      await concurrentAllocations(await t.allocator(), returned, t.allocations, t.concurrency, t.signal);
    },
  },
  {
    group: 'allocator',
    name: 'allocate(), allocateNow(), sync() and barrierUntil() mixed never go backwards and honour each barrier',
    async run(t) {
      const { coverage, required } = await generatedAllocations(
        () => t.allocator(),
        'mixed calls',
        t.allocations,
        { seed: t.seed, signal: t.signal },
      );
      coverage.require(...required);
    },
  },
  {
    group: 'allocator',
    name: 'after sync() the next timetick is above every earlier one',
    async run(t) {
      const allocator = await t.allocator();
      const returned = new Returned('allocations around sync()');
      for (let i = 0; returned.count < t.allocations; i++) {
        if (i % 500 === 0) t.signal.throwIfAborted();
        await sequentialAllocations(allocator, returned, 1, t.signal);
        allocator.sync();
        // The first allocation after the sync; from memory every other time, if the allocator can.
        const floor = returned.floor;
        const now = i % 2 === 0 ? allocator.allocateNow?.() : undefined;
        const by = returned.call(now === undefined ? 'allocate()' : 'allocateNow()', 'right after sync()');
        returned.accept(now ?? (await allocator.allocate()), floor, by);
      }
    },
  },
  {
    group: 'allocator',
    name: 'after barrierUntil(b) the next timetick is at least b',
    async run(t) {
      const allocator = await t.allocator();
      const returned = new Returned('allocations after barrierUntil()');
      for (let i = 0; returned.count < t.allocations; i++) {
        if (i % 100 === 0) t.signal.throwIfAborted();
        const value = (returned.floor.value ?? 0n) + barrierAhead(i);
        try {
          await allocator.barrierUntil(value);
        } catch (error) {
          throw new ConformanceFailure(`barrierUntil(${value}) failed: ${describeError(error)}`, {
            cause: error,
          });
        }
        const floor = returned.floor;
        const now = i % 2 === 0 ? allocator.allocateNow?.() : undefined;
        const by = returned.call(now === undefined ? 'allocate()' : 'allocateNow()');
        returned.accept(now ?? (await allocator.allocate()), floor, by, {
          value,
          by: `barrierUntil(${value})`,
        });
        // Then a few plain ones: the barrier must not have broken the order.
        await sequentialAllocations(allocator, returned, 9, t.signal);
      }
    },
  },
  {
    group: 'restart',
    name: 'a restarted allocator starts above every timetick the previous one handed out',
    async run(t) {
      const restart = t.restart;
      if (!restart)
        return t.skip('no `restart` option: the allocator keeps no high-water mark to restart from');
      const previous = await t.allocator();
      const returned = new Returned('a restarted allocator');
      await sequentialAllocations(previous, returned, Math.ceil(t.allocations / 2), t.signal);
      // Two seconds ahead of the wall clock: a restart that trusts the clock alone starts too low.
      const ahead = (returned.floor.value ?? 0n) + 2_000n * MS;
      await previous.barrierUntil(ahead);
      await sequentialAllocations(previous, returned, 1, t.signal);
      const next = await restart(previous);
      await sequentialAllocations(next, returned, Math.ceil(t.allocations / 2), t.signal);
    },
  },
];

/** The allocator cases bound to `options`: plain data any runner can register or run directly. */
export function timestampAllocatorConformanceCases(
  options: TimestampAllocatorConformanceOptions,
): TimestampAllocatorConformanceCase[] {
  if (typeof options?.allocator !== 'function') {
    throw new WalError(
      'INVALID_ARGUMENT',
      'timestamp allocator conformance: `allocator` must be a function (e.g. () => new LocalTimestampAllocator())',
    );
  }
  const definitions = options.cases ?? timestampAllocatorCaseDefinitions;
  validateSelection(SUITE, definitions, options);
  const timeoutMs = positiveOption(SUITE, options.timeoutMs, 60_000, 'timeoutMs');
  const allocations = positiveOption(SUITE, options.allocations, 10_000, 'allocations');
  const concurrency = positiveOption(SUITE, options.concurrency, 64, 'concurrency');
  const restart = options.restart;
  return bindCases(definitions, options, timeoutMs, (definition, runner) =>
    runWithDeadline(
      {
        name: definition.name,
        timeoutMs,
        graceMs: 200,
        passesWithinGrace: true,
        open: (signal): TimestampAllocatorTestContext => ({
          signal,
          allocations,
          concurrency,
          seed: options.seed,
          allocator: async () => options.allocator(),
          restart: restart && (async (previous) => restart(previous)),
          skip(reason: string): never {
            throw new CaseSkipped(reason);
          },
        }),
        body: (context) => definition.run(context),
        teardown: async () => [],
      },
      runner,
    ),
  );
}

/**
 * Registers the allocator suite with the caller's runner, one `describe` per group:
 *
 * ```ts
 * registerTimestampAllocatorConformance({ describe, test }, { allocator: () => new LocalTimestampAllocator() });
 * ```
 */
export function registerTimestampAllocatorConformance(
  runner: TestRegistrar,
  options: TimestampAllocatorConformanceOptions & { readonly suiteName?: string },
): void {
  registerCases(runner, SUITE, timestampAllocatorConformanceCases(options), options.suiteName);
}

/** Runs every allocator case one after the other and reports each outcome. */
export function runTimestampAllocatorConformance(
  options: TimestampAllocatorConformanceOptions,
  onResult?: (result: TimestampAllocatorCaseResult) => void,
): Promise<TimestampAllocatorReport> {
  return runCases(timestampAllocatorConformanceCases(options), onResult);
}
