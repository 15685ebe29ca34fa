import fc from 'fast-check';
import { CaseSkipped, ConformanceFailure } from '../runner/assert.js';
import { SemanticsStack, type StackSettings } from './stack.js';
import type { SemanticsTestContext, StackScope } from './types.js';

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
  readonly #settings: FixtureSettings;
  readonly #scope: Scope;

  constructor(settings: FixtureSettings, signal: AbortSignal) {
    this.#settings = settings;
    this.signal = signal;
    this.numRuns = settings.numRuns;
    this.faults = settings.faults !== undefined;
    this.appendErrorRate = settings.appendErrorRate;
    this.settleMs = settings.settleMs;
    this.#scope = new Scope(settings, signal);
  }

  stack(label: string, vchannels?: number): Promise<SemanticsStack> {
    return this.#scope.stack(label, vchannels);
  }

  async forAll<T>(
    arbitrary: fc.Arbitrary<T>,
    body: (value: T, scope: StackScope) => Promise<void>,
    options: { readonly numRuns?: number; readonly describe?: (value: T) => string } = {},
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
    const details = await fc.check(property, {
      numRuns: options.numRuns ?? this.numRuns,
      ...(settings.seed === undefined ? {} : { seed: settings.seed }),
      ...(settings.path === undefined ? {} : { path: settings.path }),
      endOnFailure: !settings.shrink,
    });
    if (!details.failed) return;
    const error = details.errorInstance;
    const counterexample = details.counterexample?.[0];
    const shown =
      counterexample === undefined
        ? '(none)'
        : options.describe
          ? options.describe(counterexample)
          : fc.stringify(counterexample);
    const message = error instanceof Error ? error.message : String(error);
    throw new ConformanceFailure(
      `${message}\n  in run ${details.numRuns} of ${options.numRuns ?? this.numRuns}, on ${shown}\n` +
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
