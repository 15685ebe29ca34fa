import { WalError } from '@walstream/core';
import type {
  BoundCase,
  CaseSelection,
  CaseStatus,
  RunnerTestContext,
  SuiteCaseResult,
  SuiteReport,
  TestRegistrar,
} from './types.js';

/** What a suite tells the shared machinery about itself. */
export interface SuiteSpec<G extends string> {
  /** Prefix of option errors, e.g. `walimpls conformance`. */
  readonly label: string;
  /** Every group, in registration order. */
  readonly groups: readonly G[];
  /** The outer `describe` unless the caller names it. */
  readonly suiteName: string;
  /** Added to a case's own timeout for the runner's test timeout (cleanup budget, margin). */
  readonly testMarginMs: number;
}

/**
 * Binds `definitions` to the caller's selection (check it first with {@link validateSelection}): works
 * out each case's skip reason, and wraps `run` so a case turned off only calls `runner.skip`.
 */
export function bindCases<G extends string, D extends { readonly group: G; readonly name: string }>(
  definitions: readonly D[],
  selection: CaseSelection<G>,
  timeoutMs: number,
  run: (definition: D, runner: RunnerTestContext | undefined) => Promise<CaseStatus>,
): BoundCase<G>[] {
  const skipped = new Set(selection.skip ?? []);
  return definitions.map((definition) => {
    const skipReason =
      selection.groups?.[definition.group] === false
        ? `group ${definition.group} is turned off`
        : skipped.has(definition.name)
          ? 'skipped by name'
          : undefined;
    return {
      group: definition.group,
      name: definition.name,
      skipReason,
      timeoutMs,
      run: async (runner?: RunnerTestContext) =>
        skipReason === undefined ? run(definition, runner) : markSkipped(runner, skipReason),
    };
  });
}

/**
 * The suite's own groups in their order, then the groups only the given cases name, in the order their
 * first case comes.
 */
export function groupOrder<G extends string>(
  spec: SuiteSpec<G>,
  cases: readonly { readonly group: G }[],
): G[] {
  const groups = [...spec.groups];
  for (const { group } of cases) if (!groups.includes(group)) groups.push(group);
  return groups;
}

/**
 * Registers bound cases with the caller's runner: one `describe` for the suite (`suiteName`, or the
 * suite's own name), one per non-empty group (the suite's own, then those of the caller's cases), one
 * `test` per case.
 */
export function registerCases<G extends string>(
  runner: TestRegistrar,
  spec: SuiteSpec<G>,
  cases: readonly BoundCase<G>[],
  suiteName: string | undefined,
): void {
  runner.describe(suiteName ?? spec.suiteName, () => {
    for (const group of groupOrder(spec, cases)) {
      const inGroup = cases.filter((c) => c.group === group);
      if (inGroup.length === 0) continue;
      runner.describe(group, () => {
        for (const c of inGroup) {
          runner.test(
            c.name,
            async (context) => {
              await c.run(context);
            },
            c.timeoutMs + spec.testMarginMs,
          );
        }
      });
    }
  });
}

/** Runs bound cases one after the other and reports each outcome; never throws for a failing case. */
export async function runCases<G extends string>(
  cases: readonly BoundCase<G>[],
  onResult?: (result: SuiteCaseResult<G>) => void,
): Promise<SuiteReport<G>> {
  const started = performance.now();
  const results: SuiteCaseResult<G>[] = [];
  for (const c of cases) {
    const caseStarted = performance.now();
    let result: SuiteCaseResult<G>;
    try {
      const status = await c.run();
      result = { group: c.group, name: c.name, status, durationMs: performance.now() - caseStarted };
    } catch (error) {
      result = {
        group: c.group,
        name: c.name,
        status: 'failed',
        error,
        durationMs: performance.now() - caseStarted,
      };
    }
    results.push(result);
    onResult?.(result);
  }
  const count = (status: SuiteCaseResult<G>['status']) => results.filter((r) => r.status === status).length;
  return {
    results,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    durationMs: performance.now() - started,
  };
}

/** Calls the runner's `skip` (when it has one) and reports the case skipped. */
export function markSkipped(runner: RunnerTestContext | undefined, reason: string): CaseStatus {
  runner?.skip?.(reason);
  return 'skipped';
}

/**
 * Throws INVALID_ARGUMENT for a group that neither the suite nor a given case has, a skip name no case
 * has, or a case without a group or name.
 */
export function validateSelection<G extends string>(
  spec: SuiteSpec<G>,
  definitions: readonly { readonly group: G; readonly name: string }[],
  selection: CaseSelection<G>,
): void {
  for (const definition of definitions) {
    for (const key of ['group', 'name'] as const) {
      if (typeof definition?.[key] !== 'string' || definition[key].length === 0) {
        throw new WalError(
          'INVALID_ARGUMENT',
          `${spec.label}: every case needs a non-empty ${key}, got ${JSON.stringify(definition?.[key])}`,
        );
      }
    }
  }
  const known = groupOrder(spec, definitions);
  for (const group of Object.keys(selection.groups ?? {})) {
    if (!known.includes(group as G)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `${spec.label}: unknown group ${JSON.stringify(group)}; groups are ${known.join(', ')}`,
      );
    }
  }
  const names = new Set(definitions.map((d) => d.name));
  for (const name of selection.skip ?? []) {
    if (!names.has(name)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `${spec.label}: no case is named ${JSON.stringify(name)} (skip)`,
      );
    }
  }
}

/** `value` when it is a positive integer, `fallback` when it is not given; anything else is an error. */
export function positiveOption(
  spec: SuiteSpec<string>,
  value: number | undefined,
  fallback: number,
  what: string,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${spec.label}: ${what} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

/** Like {@link positiveOption}, but 0 is allowed too. */
export function atLeastZeroOption(
  spec: SuiteSpec<string>,
  value: number | undefined,
  fallback: number,
  what: string,
): number {
  return value === 0 ? 0 : positiveOption(spec, value, fallback, what);
}
