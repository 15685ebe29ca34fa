import type { TimestampAllocator } from '@walstream/core';
import fc from 'fast-check';
import { CaseSkipped, ConformanceFailure } from '../runner/assert.js';
import { SemanticsStack, type StackSettings } from './stack.js';
import type { SemanticsProtocol, SemanticsTestContext, StackScope } from './types.js';

/** Cleanup gets its own budget, so a run that timed out still releases what it opened. */
export const TEARDOWN_BUDGET_MS = 10_000;

export interface FixtureSettings extends StackSettings {
  readonly numRuns: number;
  readonly appendErrorRate: number;
  readonly settleMs: number;
  readonly seed: number | undefined;
  readonly path: string | undefined;
  readonly shrink: boolean;
}

/** How many more batches of `numRuns` a property gets when a situation it requires did not come up. */
export const EXTRA_BATCHES = 4;

/** The seed of an extra batch: derived from the first batch's, so a failure in it replays with its seed. */
export function batchSeed(first: number, batch: number): number {
  return (first + Math.imul(batch, 0x9e3779b9)) | 0;
}

/** {@link SemanticsTestContext.forAll}'s options, and what the suite's own cases add to them. */
export interface ForAllOptions<T> {
  readonly numRuns?: number;
  readonly describe?: (value: T) => string;
  /** Values run first in every batch (fast-check `examples`), on top of the `numRuns` generated ones. */
  readonly examples?: readonly T[];
  /** Whether every situation the case requires came up; while not, further batches run. */
  readonly covered?: () => boolean;
}

/** Stacks made in one scope (a case, or one run of a property), closed together. */
class Scope implements StackScope {
  readonly signal: AbortSignal;
  readonly #settings: StackSettings;
  readonly #stacks: SemanticsStack[] = [];

  constructor(settings: StackSettings, signal: AbortSignal) {
    this.#settings = settings;
    this.signal = signal;
  }

  async stack(label: string, vchannels = 2): Promise<SemanticsStack> {
    if (this.signal.aborted) throw this.signal.reason;
    const stack = await SemanticsStack.open(this.#settings, label, vchannels, this.signal, (made) =>
      this.#stacks.push(made),
    );
    return stack;
  }

  async teardown(): Promise<string[]> {
    const budget = AbortSignal.timeout(TEARDOWN_BUDGET_MS);
    const problems: string[] = [];
    for (const stack of this.#stacks.splice(0).reverse()) problems.push(...(await stack.close(budget)));
    return problems;
  }
}

/** What a case runs in: its own stacks, and fast-check runs that each get theirs. */
export class SemanticsFixture implements SemanticsTestContext {
  readonly signal: AbortSignal;
  readonly numRuns: number;
  readonly faults: boolean;
  readonly appendErrorRate: number;
  readonly settleMs: number;
  readonly protocol: SemanticsProtocol;
  readonly #settings: FixtureSettings;
  readonly #scope: Scope;

  constructor(settings: FixtureSettings, signal: AbortSignal) {
    this.#settings = settings;
    this.signal = signal;
    this.numRuns = settings.numRuns;
    this.faults = settings.faults !== undefined;
    this.appendErrorRate = settings.appendErrorRate;
    this.settleMs = settings.settleMs;
    this.protocol = settings.protocol;
    this.#scope = new Scope(settings, signal);
  }

  allocator(): TimestampAllocator {
    return this.#settings.allocator();
  }

  stack(label: string, vchannels?: number): Promise<SemanticsStack> {
    return this.#scope.stack(label, vchannels);
  }

  /**
   * `examples` run first in every batch, on top of the `numRuns` generated values. When `covered` is
   * given and returns false after a batch, up to {@link EXTRA_BATCHES} further batches run, each on a seed
   * derived from the first batch's, until it returns true; the caller then checks its coverage as before.
   */
  async forAll<T>(
    arbitrary: fc.Arbitrary<T>,
    body: (value: T, scope: StackScope) => Promise<void>,
    options: ForAllOptions<T> = {},
  ): Promise<void> {
    const property = fc.asyncProperty(arbitrary, async (value) => {
      if (this.signal.aborted) throw this.signal.reason;
      const scope = new Scope(this.#settings, this.signal);
      let failure: unknown;
      try {
        await body(value, scope);
      } catch (error) {
        failure = error;
      }
      const problems = await scope.teardown();
      if (failure !== undefined) throw failure;
      if (problems.length > 0) {
        throw new ConformanceFailure(`cleanup after the run failed:\n  ${problems.join('\n  ')}`);
      }
    });
    const settings = this.#settings;
    const examples = (options.examples ?? []).map((example): [T] => [example]);
    const numRuns = (options.numRuns ?? this.numRuns) + examples.length;
    let first: number | undefined = settings.seed;
    for (let batch = 0; ; batch++) {
      const seed = batch === 0 ? first : batchSeed(first!, batch);
      const details = await fc.check(property, {
        numRuns,
        ...(seed === undefined ? {} : { seed }),
        ...(settings.path === undefined ? {} : { path: settings.path }),
        ...(examples.length === 0 ? {} : { examples }),
        endOnFailure: !settings.shrink,
      });
      if (details.failed) throw this.#failure(details, numRuns, batch, first, options.describe);
      first ??= details.seed;
      // A replayed path runs one value: more batches would not replay anything.
      const done = options.covered === undefined || settings.path !== undefined || options.covered();
      if (done || batch >= EXTRA_BATCHES || this.signal.aborted) return;
    }
  }

  #failure<T>(
    details: fc.RunDetails<[T]>,
    numRuns: number,
    batch: number,
    first: number | undefined,
    describe: ((value: T) => string) | undefined,
  ): ConformanceFailure {
    const error = details.errorInstance;
    const counterexample = details.counterexample?.[0];
    const shown =
      counterexample === undefined
        ? '(none)'
        : describe
          ? describe(counterexample)
          : fc.stringify(counterexample);
    const message = error instanceof Error ? error.message : String(error);
    const where =
      batch === 0 ? '' : ` of extra batch ${batch} (coverage was missing; seed derived from ${first})`;
    return new ConformanceFailure(
      `${message}\n  in run ${details.numRuns} of ${numRuns}${where}, on ${shown}\n` +
        `  replay with { seed: ${details.seed}, path: ${JSON.stringify(details.counterexamplePath)} }`,
      { cause: error },
    );
  }

  skip(reason: string): never {
    throw new CaseSkipped(reason);
  }

  teardown(): Promise<string[]> {
    return this.#scope.teardown();
  }
}
