import type { TimestampAllocator } from '@walstream/core';
import fc from 'fast-check';
import { ConformanceFailure, describeError } from '../../runner/assert.js';
import { Coverage } from '../groups/coverage.js';

/** The highest timetick returned so far, and by which call. */
interface Floor {
  readonly value: bigint | undefined;
  readonly by: string;
}

/**
 * Everything one allocator returned. Each value is judged against the highest value returned before the
 * call that produced it was made: it must be above it, and no value may come twice.
 */
export class Returned {
  readonly label: string;
  #max: bigint | undefined;
  #maxBy = 'nothing';
  readonly #seen = new Map<bigint, string>();
  #calls = 0;

  constructor(label: string) {
    this.label = label;
  }

  /** Allocations judged so far. */
  get count(): number {
    return this.#seen.size;
  }

  /** What a call made now must exceed. */
  get floor(): Floor {
    return { value: this.#max, by: this.#maxBy };
  }

  /** A name for the next call, for reports: `allocate() #12`, `allocateNow() #13 right after sync()`. */
  call(what: string, when?: string): string {
    return `${what} #${++this.#calls}${when ? ` ${when}` : ''}`;
  }

  /** Judges `value`, returned by `by`, which was called when `floor` was the highest value returned. */
  accept(value: unknown, floor: Floor, by: string, atLeast?: { value: bigint; by: string }): bigint {
    if (typeof value !== 'bigint' || value < 0n) {
      this.#fail(`${by} returned ${describeValue(value)}, not a non-negative bigint timetick`);
    }
    if (floor.value !== undefined && value <= floor.value) {
      this.#fail(
        `${by} returned ${value}, not above ${floor.value}, which ${floor.by} returned before it was called ` +
          `(${value === floor.value ? 'the same timetick twice' : `${floor.value - value} lower: the allocator went backwards`})`,
      );
    }
    const earlier = this.#seen.get(value);
    if (earlier !== undefined) this.#fail(`${by} returned ${value}, which ${earlier} returned too`);
    if (atLeast && value < atLeast.value) {
      this.#fail(`${by} returned ${value}, below the ${atLeast.value} that ${atLeast.by} promised`);
    }
    this.#seen.set(value, by);
    if (this.#max === undefined || value > this.#max) {
      this.#max = value;
      this.#maxBy = by;
    }
    return value;
  }

  #fail(message: string): never {
    const count = this.count;
    throw new ConformanceFailure(
      `${this.label}: ${message} (after ${count} allocation${count === 1 ? '' : 's'})`,
    );
  }
}

function describeValue(value: unknown): string {
  return typeof value === 'bigint' ? String(value) : `${typeof value} ${String(value)}`;
}

async function allocate(
  allocator: TimestampAllocator,
  returned: Returned,
  atLeast?: Barrier,
): Promise<bigint> {
  const floor = returned.floor;
  const by = returned.call('allocate()');
  let value: bigint;
  try {
    value = await allocator.allocate();
  } catch (error) {
    throw new ConformanceFailure(`${returned.label}: ${by} failed: ${describeError(error)}`, {
      cause: error,
    });
  }
  return returned.accept(value, floor, by, atLeast);
}

/** `allocateNow()` when the allocator has it; undefined when it has not or cannot answer from memory. */
function allocateNow(
  allocator: TimestampAllocator,
  returned: Returned,
  atLeast?: Barrier,
): bigint | undefined {
  if (!allocator.allocateNow) return undefined;
  const floor = returned.floor;
  const by = returned.call('allocateNow()');
  let value: bigint | undefined;
  try {
    value = allocator.allocateNow();
  } catch (error) {
    throw new ConformanceFailure(`${returned.label}: ${by} threw: ${describeError(error)}`, { cause: error });
  }
  return value === undefined ? undefined : returned.accept(value, floor, by, atLeast);
}

interface Barrier {
  readonly value: bigint;
  readonly by: string;
}

/** `allocate()` one call after another, `count` times: each timetick above the one before. */
export async function sequentialAllocations(
  allocator: TimestampAllocator,
  returned: Returned,
  count: number,
  signal: AbortSignal,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (i % 1_000 === 0) signal.throwIfAborted();
    await allocate(allocator, returned);
  }
}

/**
 * `count` calls of `allocate()` in waves of `concurrency` calls made together: every value distinct, and
 * above every value returned before its wave began.
 */
export async function concurrentAllocations(
  allocator: TimestampAllocator,
  returned: Returned,
  count: number,
  concurrency: number,
  signal: AbortSignal,
): Promise<void> {
  for (let done = 0; done < count; done += concurrency) {
    signal.throwIfAborted();
    const wave = Math.min(concurrency, count - done);
    await Promise.all(Array.from({ length: wave }, () => allocate(allocator, returned)));
  }
}

/** One step of a generated sequence of allocator calls. */
export type AllocatorStep =
  | { readonly kind: 'allocate' }
  | { readonly kind: 'allocateNow' }
  | { readonly kind: 'burst'; readonly calls: number }
  | { readonly kind: 'sync' }
  /** barrierUntil(highest so far + `ahead`): `ahead` in timeticks (2^18 per millisecond). */
  | { readonly kind: 'barrier'; readonly ahead: bigint };

const MS = 1n << 18n;

/** Sequences of calls that mix allocate(), allocateNow(), concurrent bursts, sync() and barrierUntil(). */
export function allocatorSteps(length: number): fc.Arbitrary<AllocatorStep[]> {
  const step: fc.Arbitrary<AllocatorStep> = fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'allocate' as const }) },
    { weight: 6, arbitrary: fc.constant({ kind: 'allocateNow' as const }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 2, max: 16 }).map((calls) => ({ kind: 'burst' as const, calls })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'sync' as const }) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: MS }), fc.constant(2n * MS))
        .map((ahead) => ({ kind: 'barrier' as const, ahead })),
    },
  );
  return fc.array(step, { minLength: length, maxLength: length });
}

/** Runs `steps` on `allocator`; counts the situations the mixed case is about in `coverage`. */
export async function mixedAllocations(
  allocator: TimestampAllocator,
  returned: Returned,
  steps: readonly AllocatorStep[],
  coverage: Coverage,
): Promise<void> {
  let previous: AllocatorStep['kind'] | undefined;
  let barrier: Barrier | undefined;
  const note = (kind: AllocatorStep['kind']) => {
    if (previous === 'sync') coverage.add('allocations right after sync()');
    if (previous === 'barrier') coverage.add('allocations right after barrierUntil()');
    if (previous === 'allocate' && kind === 'allocateNow')
      coverage.add('allocateNow() right after allocate()');
    if (previous === 'allocateNow' && kind === 'allocate')
      coverage.add('allocate() right after allocateNow()');
  };
  for (const step of steps) {
    switch (step.kind) {
      case 'allocate':
        note(step.kind);
        await allocate(allocator, returned, barrier);
        barrier = undefined;
        break;
      case 'allocateNow': {
        if (!allocator.allocateNow) break;
        note(step.kind);
        if (allocateNow(allocator, returned, barrier) !== undefined) {
          coverage.add('allocateNow() answers');
          barrier = undefined;
        }
        break;
      }
      case 'burst':
        note(step.kind);
        coverage.add('concurrent bursts');
        await Promise.all(Array.from({ length: step.calls }, () => allocate(allocator, returned, barrier)));
        barrier = undefined;
        break;
      case 'sync':
        allocator.sync();
        break;
      case 'barrier': {
        const value = (returned.floor.value ?? 0n) + step.ahead;
        const by = `barrierUntil(${value})`;
        try {
          await allocator.barrierUntil(value);
        } catch (error) {
          throw new ConformanceFailure(`${returned.label}: ${by} failed: ${describeError(error)}`, {
            cause: error,
          });
        }
        barrier = { value, by };
        break;
      }
    }
    if (step.kind !== 'allocateNow' || allocator.allocateNow) previous = step.kind;
  }
}

/** What the mixed case requires to have come up across its sequences. */
export function mixedRequirements(allocator: TimestampAllocator): string[] {
  const required = [
    'allocations right after sync()',
    'allocations right after barrierUntil()',
    'concurrent bursts',
  ];
  if (allocator.allocateNow)
    required.push('allocateNow() right after allocate()', 'allocate() right after allocateNow()');
  return required;
}

/**
 * Runs generated sequences of 200 steps (fast-check), each on a fresh allocator from `make`, until about
 * `allocations` calls were made; fails with the first broken promise and the seed to replay it. Returns
 * how many allocations were judged and what came up.
 */
export async function generatedAllocations(
  make: () => TimestampAllocator | Promise<TimestampAllocator>,
  label: string,
  allocations: number,
  options: { readonly seed?: number | undefined; readonly signal: AbortSignal },
): Promise<{ readonly count: number; readonly coverage: Coverage; readonly required: string[] }> {
  const coverage = new Coverage();
  const length = 200;
  const runs = Math.max(1, Math.ceil(allocations / length));
  let count = 0;
  let required: string[] = [];
  const property = fc.asyncProperty(allocatorSteps(length), async (steps) => {
    options.signal.throwIfAborted();
    const allocator = await make();
    required = mixedRequirements(allocator);
    const returned = new Returned(label);
    await mixedAllocations(allocator, returned, steps, coverage);
    count += returned.count;
  });
  const details = await fc.check(property, {
    numRuns: runs,
    endOnFailure: true,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
  });
  if (details.failed) {
    const error = details.errorInstance;
    const message = error instanceof Error ? error.message : String(error);
    throw new ConformanceFailure(
      `${message}\n  in sequence ${details.numRuns} of ${runs}; replay with { seed: ${details.seed} }`,
      { cause: error },
    );
  }
  return { count, coverage, required };
}
