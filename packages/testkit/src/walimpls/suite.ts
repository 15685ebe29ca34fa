import { WalError } from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import {
  atLeastZeroOption,
  bindCases,
  positiveOption,
  registerCases,
  runCases,
  type SuiteSpec,
  validateSelection,
} from '../runner/cases.js';
import type { FixtureSettings } from './context.js';
import { inProcessWriterFreezer } from './freezer.js';
import { walimplsCaseDefinitions } from './groups/index.js';
import { runCase, TEARDOWN_BUDGET_MS } from './run-case.js';
import {
  type CaseResult,
  type ConformanceReport,
  type TestRegistrar,
  WALIMPLS_GROUPS,
  type WalImplsCaseDefinition,
  type WalImplsConformanceCase,
  type WalImplsConformanceOptions,
  type WalImplsGroup,
} from './types.js';

const SUITE: SuiteSpec<WalImplsGroup> = {
  label: 'walimpls conformance',
  groups: WALIMPLS_GROUPS,
  suiteName: 'walimpls conformance',
  testMarginMs: TEARDOWN_BUDGET_MS + 1_000,
};
const DEFAULT_MESSAGE_COUNT = 200;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_APPEND_RETRIES = 20;
const DEFAULT_NUM_RUNS = 10;

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
  const definitions: readonly WalImplsCaseDefinition<B>[] = options.cases ?? walimplsCaseDefinitions;
  validateSelection(SUITE, definitions, options);
  const timeoutMs = positiveOption(SUITE, options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
  const settings: FixtureSettings = {
    capabilities: options.capabilities ?? {},
    messageCount: positiveOption(SUITE, options.messageCount, DEFAULT_MESSAGE_COUNT, 'messageCount'),
    appendRetries: atLeastZeroOption(SUITE, options.appendRetries, DEFAULT_APPEND_RETRIES, 'appendRetries'),
    channelPrefix: options.channelPrefix ?? 'wsconf',
    numRuns: positiveOption(SUITE, options.numRuns, DEFAULT_NUM_RUNS, 'numRuns'),
    seed: integerSeed(options.seed),
    messageIds: options.messageIds,
    storeProbe: options.storeProbe,
    writerFreezer:
      options.writerFreezer === false ? undefined : (options.writerFreezer ?? inProcessWriterFreezer),
  };
  return bindCases(definitions, options, timeoutMs, (definition, runner) =>
    runCase(definition, options, settings, timeoutMs, runner),
  );
}

function integerSeed(seed: number | undefined): number | undefined {
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new WalError('INVALID_ARGUMENT', `${SUITE.label}: seed must be an integer, got ${String(seed)}`);
  }
  return seed;
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
  registerCases(runner, SUITE, walimplsConformanceCases(options), options.suiteName);
}

/** Runs every case one after the other and reports each outcome; never throws for a failing case. */
export async function runWalImplsConformance<B extends WalImplsBuilder>(
  options: WalImplsConformanceOptions<B>,
  onResult?: (result: CaseResult) => void,
): Promise<ConformanceReport> {
  return runCases(walimplsConformanceCases(options), onResult);
}

/** Runs the given bound cases one after the other. */
export async function runConformanceCases(
  cases: readonly WalImplsConformanceCase[],
  onResult?: (result: CaseResult) => void,
): Promise<ConformanceReport> {
  return runCases(cases, onResult);
}
