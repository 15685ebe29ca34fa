import { LocalTimestampAllocator, MemoryCatalog, WalError } from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import {
  bindCases,
  positiveOption,
  registerCases,
  runCases,
  type SuiteSpec,
  validateSelection,
} from '../runner/cases.js';
import { runWithDeadline } from '../runner/run-case.js';
import type { TestRegistrar } from '../runner/types.js';
import { type FixtureSettings, SemanticsFixture, TEARDOWN_BUDGET_MS } from './fixture.js';
import { semanticsCaseDefinitions } from './groups/index.js';
import { defaultProtocol } from './protocol.js';
import type { StackSettings } from './stack.js';
import {
  SEMANTICS_GROUPS,
  type SemanticsCaseResult,
  type SemanticsConformanceCase,
  type SemanticsConformanceOptions,
  type SemanticsGroupName,
  type SemanticsReport,
} from './types.js';

const SUITE: SuiteSpec<SemanticsGroupName> = {
  label: 'semantics conformance',
  groups: SEMANTICS_GROUPS,
  suiteName: 'WAL semantics conformance',
  testMarginMs: TEARDOWN_BUDGET_MS + 1_000,
};
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_NUM_RUNS = 20;
const DEFAULT_APPEND_ERROR_RATE = 0.2;
const DEFAULT_SETTLE_MS = 5_000;
/** Adapter faults are retried fast: the suite injects many and must stay quick. */
const FAST_RETRY = { appendRetry: { initialMs: 1, maxMs: 20 } } as const;
/** After a timeout, how long the case may take to fail (or finish) on its own. */
const FAILURE_GRACE_MS = 200;

/** The semantics cases bound to `options`: plain data any runner can register or run directly. */
export function semanticsConformanceCases<A extends WalImplsBuilder>(
  options: SemanticsConformanceOptions<A>,
): SemanticsConformanceCase[] {
  if (typeof options?.adapter !== 'function' || typeof options.interceptors !== 'function') {
    throw new WalError(
      'INVALID_ARGUMENT',
      'semantics conformance: `adapter` and `interceptors` must be functions (e.g. () => memoryAdapter(), () => walSemantics())',
    );
  }
  const definitions = options.cases ?? semanticsCaseDefinitions;
  validateSelection(SUITE, definitions, options);
  const timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
  const settings = fixtureSettings(options);
  return bindCases(definitions, options, timeoutMs, (definition, runner) =>
    runWithDeadline(
      {
        name: definition.name,
        timeoutMs,
        // The case's own error names the step that hung: give it a moment to surface.
        graceMs: FAILURE_GRACE_MS,
        passesWithinGrace: true,
        open: (deadline) => new SemanticsFixture(settings, deadline),
        body: (fixture) => definition.run(fixture),
        teardown: (fixture) => fixture.teardown(),
      },
      runner,
    ),
  );
}

/**
 * Registers the suite with the caller's runner, one `describe` per group:
 *
 * ```ts
 * import { describe, test } from 'vitest';
 * registerSemanticsConformance({ describe, test }, {
 *   adapter: () => memoryAdapter(),
 *   interceptors: () => walSemantics(),
 *   faults: (adapter, pchannel) => adapter.store.faults(pchannel),
 * });
 * ```
 */
export function registerSemanticsConformance<A extends WalImplsBuilder>(
  runner: TestRegistrar,
  options: SemanticsConformanceOptions<A> & { readonly suiteName?: string },
): void {
  registerCases(runner, SUITE, semanticsConformanceCases(options), options.suiteName);
}

/** Runs every case one after the other and reports each outcome; never throws for a failing case. */
export async function runSemanticsConformance<A extends WalImplsBuilder>(
  options: SemanticsConformanceOptions<A>,
  onResult?: (result: SemanticsCaseResult) => void,
): Promise<SemanticsReport> {
  return runCases(semanticsConformanceCases(options), onResult);
}

function fixtureSettings<A extends WalImplsBuilder>(
  options: SemanticsConformanceOptions<A>,
): FixtureSettings {
  const faults = options.faults;
  const rate = options.appendErrorRate ?? DEFAULT_APPEND_ERROR_RATE;
  if (!(rate >= 0 && rate < 1)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `semantics conformance: appendErrorRate must be in [0, 1), got ${String(rate)}`,
    );
  }
  const stack: StackSettings = {
    adapter: options.adapter,
    interceptors: options.interceptors,
    // The suite hands back the adapter the factory made, so the hook may rely on its type.
    faults: faults ? (adapter, pchannel) => faults(adapter as A, pchannel) : undefined,
    catalog: options.catalog ?? (() => new MemoryCatalog()),
    allocator: options.allocator ?? (() => new LocalTimestampAllocator()),
    runtime: options.runtime ?? FAST_RETRY,
    protocol: { ...defaultProtocol, ...options.protocol },
    channelPrefix: options.channelPrefix ?? 'wssem',
  };
  return {
    ...stack,
    numRuns: positive(options.numRuns, DEFAULT_NUM_RUNS, 'numRuns'),
    appendErrorRate: rate,
    settleMs: positive(options.settleMs, DEFAULT_SETTLE_MS, 'settleMs'),
    seed: options.seed,
    path: options.path,
    shrink: options.shrink ?? false,
  };
}

function positive(value: number | undefined, fallback: number, what: string): number {
  return positiveOption(SUITE, value, fallback, what);
}
