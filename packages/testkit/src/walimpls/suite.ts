import { WalError, type WalImplsBuilder } from '@walstream/core';
import type { FixtureSettings } from './context.js';
import { walimplsCaseDefinitions } from './groups/index.js';
import { markSkipped, runCase, TEARDOWN_BUDGET_MS } from './run-case.js';
import {
  type CaseResult,
  type ConformanceReport,
  type RunnerTestContext,
  type TestRegistrar,
  WALIMPLS_GROUPS,
  type WalImplsCaseDefinition,
  type WalImplsConformanceCase,
  type WalImplsConformanceOptions,
} from './types.js';

const DEFAULT_MESSAGE_COUNT = 200;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_APPEND_RETRIES = 20;

/**
 * The walimpls conformance cases, bound to `options`: plain data that any runner can register and that
 * can be run directly (`await c.run()`).
 */
export function walimplsConformanceCases<B extends WalImplsBuilder>(
  options: WalImplsConformanceOptions<B>,
): WalImplsConformanceCase[] {
  if (typeof options?.builder !== 'function') {
    throw new WalError(
      'INVALID_ARGUMENT',
      'walimpls conformance: `builder` must be a function returning a WalImplsBuilder',
    );
  }
  const definitions = options.cases ?? walimplsCaseDefinitions;
  validateSelection(options, definitions);
  const timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
  const settings: FixtureSettings = {
    capabilities: options.capabilities ?? {},
    messageCount: positive(options.messageCount, DEFAULT_MESSAGE_COUNT, 'messageCount'),
    appendRetries: atLeastZero(options.appendRetries, DEFAULT_APPEND_RETRIES, 'appendRetries'),
    channelPrefix: options.channelPrefix ?? 'wsconf',
  };
  const skipped = new Set(options.skip ?? []);
  return definitions.map((definition) => {
    const skipReason =
      options.groups?.[definition.group] === false
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
        skipReason === undefined
          ? runCase(definition, options, settings, timeoutMs, runner)
          : markSkipped(runner, skipReason),
    };
  });
}

/**
 * Registers the suite with the caller's runner, one `describe` per group:
 *
 * ```ts
 * import { describe, test } from 'vitest';
 * registerWalImplsConformance({ describe, test }, { builder: () => myAdapter(config) });
 * ```
 */
export function registerWalImplsConformance<B extends WalImplsBuilder>(
  runner: TestRegistrar,
  options: WalImplsConformanceOptions<B> & { readonly suiteName?: string },
): void {
  const cases = walimplsConformanceCases(options);
  runner.describe(options.suiteName ?? 'walimpls conformance', () => {
    for (const group of WALIMPLS_GROUPS) {
      const inGroup = cases.filter((c) => c.group === group);
      if (inGroup.length === 0) continue;
      runner.describe(group, () => {
        for (const c of inGroup) {
          runner.test(
            c.name,
            async (context) => {
              await c.run(context);
            },
            c.timeoutMs + TEARDOWN_BUDGET_MS + 1_000,
          );
        }
      });
    }
  });
}

/** Runs every case one after the other and reports each outcome; never throws for a failing case. */
export async function runWalImplsConformance<B extends WalImplsBuilder>(
  options: WalImplsConformanceOptions<B>,
  onResult?: (result: CaseResult) => void,
): Promise<ConformanceReport> {
  return runConformanceCases(walimplsConformanceCases(options), onResult);
}

/** Runs the given bound cases one after the other. */
export async function runConformanceCases(
  cases: readonly WalImplsConformanceCase[],
  onResult?: (result: CaseResult) => void,
): Promise<ConformanceReport> {
  const started = performance.now();
  const results: CaseResult[] = [];
  for (const c of cases) {
    const caseStarted = performance.now();
    let result: CaseResult;
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
  const count = (status: CaseResult['status']) => results.filter((r) => r.status === status).length;
  return {
    results,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    durationMs: performance.now() - started,
  };
}

function validateSelection<B extends WalImplsBuilder>(
  options: WalImplsConformanceOptions<B>,
  definitions: readonly WalImplsCaseDefinition[],
): void {
  const known = new Set<string>(WALIMPLS_GROUPS);
  for (const group of Object.keys(options.groups ?? {})) {
    if (!known.has(group)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `walimpls conformance: unknown group ${JSON.stringify(group)}; groups are ${WALIMPLS_GROUPS.join(', ')}`,
      );
    }
  }
  const names = new Set(definitions.map((d) => d.name));
  for (const name of options.skip ?? []) {
    if (!names.has(name)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `walimpls conformance: no case is named ${JSON.stringify(name)} (skip)`,
      );
    }
  }
}

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `walimpls conformance: ${what} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

function atLeastZero(value: number | undefined, fallback: number, what: string): number {
  return value === 0 ? 0 : positive(value, fallback, what);
}
