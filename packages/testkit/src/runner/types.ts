/** The context a test runner hands to a test function: vitest's and node:test's both fit. */
export interface RunnerTestContext {
  /** Marks the running test as skipped (vitest's throws, node:test's returns). */
  skip?: (note?: string) => void;
}

/** `describe` and `test` of the caller's runner (vitest's work as they are). */
export interface TestRegistrar {
  describe: (name: string, fn: () => void) => unknown;
  test: (name: string, fn: (context: RunnerTestContext) => Promise<void>, timeout?: number) => unknown;
}

export type CaseStatus = 'passed' | 'skipped';

/**
 * One case of a suite as plain data. `run` gets a fresh context of type `T` and rejects with a
 * `ConformanceFailure` that says what the code under test did and what the contract expects.
 */
export interface CaseDefinition<G extends string, T> {
  readonly group: G;
  /** Unique across the suite; `skip` names cases by it. */
  readonly name: string;
  run(t: T): Promise<void>;
}

/** Which cases of a suite run: the options every suite shares. */
export interface CaseSelection<G extends string> {
  /** `{ [group]: false }` turns a group off. Every group is on by default. */
  readonly groups?: Partial<Record<G, boolean>>;
  /** Case names to skip. Unknown names are an error, so a typo cannot silently run everything. */
  readonly skip?: readonly string[];
}

/** A case bound to its options: everything a runner needs. */
export interface BoundCase<G extends string> {
  readonly group: G;
  readonly name: string;
  /** Set when the options turned the case off. */
  readonly skipReason: string | undefined;
  readonly timeoutMs: number;
  /**
   * Runs the case on fresh resources and closes what it opened. Resolves `passed` or `skipped` (after
   * calling `runner.skip` when given); rejects with the conformance failure.
   */
  run(runner?: RunnerTestContext): Promise<CaseStatus>;
}

export interface SuiteCaseResult<G extends string> {
  readonly group: G;
  readonly name: string;
  readonly status: CaseStatus | 'failed';
  readonly error?: unknown;
  readonly durationMs: number;
}

export interface SuiteReport<G extends string> {
  readonly results: readonly SuiteCaseResult<G>[];
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly durationMs: number;
}
