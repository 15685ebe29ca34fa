import type { Catalog } from '@walstream/core';
import { WalError } from '@walstream/core';
import { CaseSkipped } from '../runner/assert.js';
import {
  bindCases,
  positiveOption,
  registerCases,
  runCases,
  type SuiteSpec,
  validateSelection,
} from '../runner/cases.js';
import { runWithDeadline } from '../runner/run-case.js';
import type { BoundCase, CaseStatus, RunnerTestContext } from '../runner/types.js';
import { abortable } from '../runner/wait.js';
import { catalogCaseDefinitions } from './cases/index.js';
import {
  CATALOG_GROUPS,
  type CatalogCaseDefinition,
  type CatalogCaseResult,
  type CatalogConformanceOptions,
  type CatalogConformanceReport,
  type CatalogGroup,
  type CatalogTestContext,
  type TestRegistrar,
} from './types.js';

const SUITE: SuiteSpec<CatalogGroup> = {
  label: 'catalog conformance',
  groups: CATALOG_GROUPS,
  suiteName: 'catalog conformance',
  testMarginMs: 6_000,
};
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_NUM_RUNS = 25;
const TEARDOWN_BUDGET_MS = 5_000;

/** A bound case of the catalog suite: plain data any runner can register, or run with `await c.run()`. */
export type CatalogConformanceCase = BoundCase<CatalogGroup>;

/** The catalog suite's cases bound to `options`. */
export function catalogConformanceCases<C extends Catalog>(
  options: CatalogConformanceOptions<C>,
): CatalogConformanceCase[] {
  if (typeof options?.catalog !== 'function') {
    throw new WalError(
      'INVALID_ARGUMENT',
      'catalog conformance: `catalog` must be a function returning a Catalog',
      {
        retriable: false,
      },
    );
  }
  const definitions = (options.cases ?? catalogCaseDefinitions) as readonly CatalogCaseDefinition<C>[];
  validateSelection(SUITE, definitions, options);
  const timeoutMs = positiveOption(SUITE, options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
  const numRuns = positiveOption(SUITE, options.numRuns, DEFAULT_NUM_RUNS, 'numRuns');
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `catalog conformance: seed must be an integer, got ${String(options.seed)}`,
      {
        retriable: false,
      },
    );
  }
  return bindCases(definitions, options, timeoutMs, (definition, runner) =>
    runCatalogCase(definition, options, { timeoutMs, numRuns }, runner),
  );
}

function runCatalogCase<C extends Catalog>(
  definition: CatalogCaseDefinition<C>,
  options: CatalogConformanceOptions<C>,
  settings: { readonly timeoutMs: number; readonly numRuns: number },
  runner: RunnerTestContext | undefined,
): Promise<CaseStatus> {
  const opened: Catalog[] = [];
  return runWithDeadline(
    {
      name: definition.name,
      timeoutMs: settings.timeoutMs,
      graceMs: 100,
      passesWithinGrace: false,
      async open(deadline) {
        const catalog = await abortable(
          Promise.resolve().then(options.catalog),
          deadline,
          'the catalog factory',
        );
        opened.push(catalog);
        const context: CatalogTestContext<C> = {
          catalog,
          numRuns: settings.numRuns,
          seed: options.seed,
          signal: deadline,
          concurrentHandles: options.concurrentHandles === true && options.reopen !== undefined,
          async reopen() {
            const reopen = options.reopen;
            if (!reopen)
              throw new CaseSkipped('the options have no reopen: there is no second handle on the store');
            const handle = await abortable(
              Promise.resolve().then(() => reopen(catalog)),
              deadline,
              'reopen',
            );
            opened.push(handle);
            return handle;
          },
          skip(reason) {
            throw new CaseSkipped(reason);
          },
        };
        return context;
      },
      body: (context) => abortable(definition.run(context), context.signal, `case "${definition.name}"`),
      async teardown() {
        const problems: string[] = [];
        const budget = AbortSignal.timeout(TEARDOWN_BUDGET_MS);
        for (const catalog of opened.reverse()) {
          try {
            await abortable(
              Promise.resolve().then(() => options.close?.(catalog)),
              budget,
              'close',
            );
          } catch (error) {
            problems.push(
              `closing a catalog failed: ${error instanceof Error ? error.message : String(error)}`,
            );
          }
        }
        return problems;
      },
    },
    runner,
  );
}

/**
 * Registers the catalog suite with the caller's runner, one `describe` per group:
 *
 * ```ts
 * import { describe, test } from 'vitest';
 * registerCatalogConformance({ describe, test }, { catalog: () => new MemoryCatalog() });
 * ```
 */
export function registerCatalogConformance<C extends Catalog>(
  runner: TestRegistrar,
  options: CatalogConformanceOptions<C> & { readonly suiteName?: string },
): void {
  registerCases(runner, SUITE, catalogConformanceCases(options), options.suiteName);
}

/** Runs every case one after the other and reports each outcome; never throws for a failing case. */
export function runCatalogConformance<C extends Catalog>(
  options: CatalogConformanceOptions<C>,
  onResult?: (result: CatalogCaseResult) => void,
): Promise<CatalogConformanceReport> {
  return runCases(catalogConformanceCases(options), onResult);
}
