import {
  type BalancePolicy,
  type CurrentLayout,
  type ExpectedLayout,
  hasCode,
  WalError,
} from '@walstream/core';
import fc from 'fast-check';
import { CaseSkipped, check, describeError, fail } from '../runner/assert.js';
import {
  bindCases,
  positiveOption,
  registerCases,
  runCases,
  type SuiteSpec,
  validateSelection,
} from '../runner/cases.js';
import { draw } from '../runner/property.js';
import { runWithDeadline } from '../runner/run-case.js';
import type {
  BoundCase,
  CaseDefinition,
  CaseSelection,
  SuiteCaseResult,
  SuiteReport,
  TestRegistrar,
} from '../runner/types.js';
import { Coverage } from '../semantics/groups/coverage.js';
import {
  apply,
  deepFreeze,
  describeExpected,
  describeLayout,
  joinedNodeLayout,
  layoutArbitrary,
  shuffled,
} from './layouts.js';

/** The groups of the policy suite: the shape of a result, stability, balance. */
export const POLICY_GROUPS = ['contract', 'stability', 'balance'] as const;

export type PolicyGroupName = (typeof POLICY_GROUPS)[number];

/** What a policy case runs with. */
export interface PolicyTestContext {
  readonly signal: AbortSignal;
  /** The policy under test (a fresh one per case when the options give a factory). */
  readonly policy: BalancePolicy;
  /** Generated layouts per case, after the fixed examples. */
  readonly numRuns: number;
  readonly seed: number | undefined;
  /** Layouts the case draws from. */
  readonly layouts: fc.Arbitrary<CurrentLayout>;
  /** Ends the case as skipped. */
  skip(reason: string): never;
}

export type PolicyCaseDefinition = CaseDefinition<PolicyGroupName, PolicyTestContext>;

export interface PolicyConformanceOptions extends CaseSelection<PolicyGroupName> {
  /** The policy under test, or a factory called once per case. */
  policy: BalancePolicy | (() => BalancePolicy);
  /** Generated layouts per case. Default 200. */
  numRuns?: number;
  /** fast-check seed, to replay a failure the suite reported. */
  seed?: number;
  /** Most nodes in a generated layout. Default 6. */
  maxNodes?: number;
  /** Most pchannels in a generated layout. Default 24. */
  maxPChannels?: number;
  /** Time budget of one case. Default 60 000 ms. */
  timeoutMs?: number;
  /** The cases to run; default every case. */
  cases?: readonly PolicyCaseDefinition[];
}

export type PolicyConformanceCase = BoundCase<PolicyGroupName>;
export type PolicyCaseResult = SuiteCaseResult<PolicyGroupName>;
export type PolicyReport = SuiteReport<PolicyGroupName>;

const SUITE: SuiteSpec<PolicyGroupName> = {
  label: 'balance policy conformance',
  groups: POLICY_GROUPS,
  suiteName: 'balance policy conformance',
  testMarginMs: 1_000,
};

/** Float noise allowed when the suite recomputes a policy's cost. */
const EPSILON = 1e-9;

function sorted(expected: ExpectedLayout): string {
  return describeExpected(expected);
}

function run(policy: BalancePolicy, layout: CurrentLayout, what: string): ExpectedLayout {
  let result: ExpectedLayout;
  try {
    result = policy.balance(layout);
  } catch (error) {
    fail(`${policy.name}: balance() threw on ${what}: ${describeError(error)}`, error);
  }
  check(
    result instanceof Map,
    () => `${policy.name}: balance() returned ${String(result)} on ${what}, not a Map of pchannel → node`,
  );
  return result;
}

function schedulable(layout: CurrentLayout): Set<string> {
  return new Set(layout.nodes.filter((n) => n.schedulable).map((n) => n.nodeId));
}

/** The current assignment of a layout whose pchannels all sit on schedulable nodes. */
function assignmentOf(layout: CurrentLayout): Map<string, string> {
  return new Map(layout.pchannels.map((p) => [p.name, p.nodeId ?? '']));
}

function moves(layout: CurrentLayout, expected: ExpectedLayout): string[] {
  return layout.pchannels
    .filter((p) => expected.get(p.name) !== p.nodeId)
    .map((p) => `${p.name} ${p.nodeId ?? '(none)'}→${expected.get(p.name) ?? '(none)'}`);
}

/** Rounds until the policy keeps what it has; fails when it does not settle within the bound. */
function settle(policy: BalancePolicy, start: CurrentLayout): { layout: CurrentLayout; rounds: number } {
  const limit = 4 * start.pchannels.length + 8;
  let layout = start;
  for (let round = 1; round <= limit; round++) {
    const expected = run(policy, layout, `round ${round}`);
    if (moves(layout, expected).length === 0) return { layout, rounds: round };
    layout = apply(layout, expected);
  }
  fail(
    `${policy.name}: still moving pchannels after ${limit} rounds (the last wanted ${moves(layout, run(policy, layout, 'the last round')).join(', ')})`,
  );
}

function settings<T = CurrentLayout>(
  t: PolicyTestContext,
  examples: T[] = [],
  describe: (value: T) => string = (value) => describeLayout(value as CurrentLayout),
) {
  return { numRuns: t.numRuns, seed: t.seed, examples, describe, shrink: true };
}

const withSeed = (layouts: CurrentLayout[], seed: number): [CurrentLayout, number][] =>
  layouts.map((layout) => [layout, seed]);
const describeSeeded = ([layout, seed]: [CurrentLayout, number]): string =>
  `${describeLayout(layout)} (shuffle seed ${seed})`;

/** Layouts every case starts with: none, one node, and a node that joined a balanced cluster. */
function fixedExamples(): CurrentLayout[] {
  return [
    { nodes: [{ nodeId: '1', schedulable: true }], pchannels: [] },
    {
      nodes: [
        { nodeId: '2', schedulable: true },
        { nodeId: '10', schedulable: true },
        { nodeId: '3', schedulable: false },
      ],
      pchannels: [
        { name: 'b', term: 3n, nodeId: '3', vchannelCount: 2 },
        { name: 'a', term: 1n, vchannelCount: 0 },
        { name: 'c', term: 2n, nodeId: '10', vchannelCount: 1, movable: false },
      ],
    },
    joinedNodeLayout(),
  ];
}

const DETERMINISTIC =
  'the same layout, in any order of nodes and pchannels, gives the same result, and the input is left unchanged';
const COMPLETE = 'every pchannel is assigned to exactly one schedulable node';
const NO_NODE = 'with no schedulable node balance() throws UNAVAILABLE instead of returning a partial layout';
const PINNED = 'a pchannel that may not move stays on its node while the node is schedulable';
const STAYS_PUT = 'a layout the policy settled on stays put: no pchannel moves in the next round';
const CONVERGES = 'repeated rounds settle, and moving pchannels onto a joined node moves no other';
const BOUNDED =
  "where the policy settles, no single move of a movable pchannel lowers the policy's cost by more than its tolerance";

/** The name of each case, for `skip` and for reading a report. */
export const POLICY_CASE_NAMES = {
  deterministic: DETERMINISTIC,
  complete: COMPLETE,
  noNode: NO_NODE,
  pinned: PINNED,
  staysPut: STAYS_PUT,
  converges: CONVERGES,
  bounded: BOUNDED,
} as const;

/** The contract of `BalancePolicy`, one case per promise. */
export const policyCaseDefinitions: readonly PolicyCaseDefinition[] = [
  {
    group: 'contract',
    name: DETERMINISTIC,
    async run(t) {
      const coverage = new Coverage();
      draw(
        'layouts in shuffled orders',
        fc.tuple(t.layouts, fc.integer({ min: 1, max: 2 ** 30 })),
        ([layout, seed]) => {
          const frozen = deepFreeze(structuredClone(layout));
          const first = sorted(run(t.policy, frozen, 'the layout'));
          const again = sorted(run(t.policy, frozen, 'the same layout again'));
          check(
            first === again,
            () => `${t.policy.name}: two calls on one layout disagree:\n  ${first}\n  ${again}`,
          );
          const other = shuffled(frozen, seed);
          const reordered = sorted(run(t.policy, deepFreeze(structuredClone(other)), 'the shuffled layout'));
          check(
            first === reordered,
            () =>
              `${t.policy.name}: the result depends on input order:\n  in order   ${first}\n  shuffled   ${reordered}\n  (shuffled input: ${describeLayout(other)})`,
          );
          if (layout.pchannels.length > 1 && describeLayout(other) !== describeLayout(layout)) {
            coverage.add('a reordered layout');
          }
        },
        settings(t, withSeed(fixedExamples(), 7), describeSeeded),
      );
      coverage.require('a reordered layout');
    },
  },
  {
    group: 'contract',
    name: COMPLETE,
    async run(t) {
      const coverage = new Coverage();
      draw(
        'layouts',
        t.layouts,
        (layout) => {
          const expected = run(t.policy, layout, 'the layout');
          const nodes = schedulable(layout);
          const names = new Set(layout.pchannels.map((p) => p.name));
          for (const name of expected.keys()) {
            check(
              names.has(name),
              () => `${t.policy.name}: the result names ${name}, which is not in the layout`,
            );
          }
          for (const p of layout.pchannels) {
            const nodeId = expected.get(p.name);
            check(nodeId !== undefined, () => `${t.policy.name}: ${p.name} is missing from the result`);
            check(
              nodes.has(nodeId),
              () =>
                `${t.policy.name}: ${p.name} went to ${nodeId}, which is ${layout.nodes.some((n) => n.nodeId === nodeId) ? 'not schedulable' : 'not a node of the layout'}`,
            );
            if (p.nodeId === undefined) coverage.add('an unassigned pchannel');
            else if (!layout.nodes.some((n) => n.nodeId === p.nodeId))
              coverage.add('a pchannel on a node that is gone');
            else if (!nodes.has(p.nodeId)) coverage.add('a pchannel on an unschedulable node');
          }
        },
        settings(t, fixedExamples()),
      );
      coverage.require(
        'an unassigned pchannel',
        'a pchannel on a node that is gone',
        'a pchannel on an unschedulable node',
      );
    },
  },
  {
    group: 'contract',
    name: NO_NODE,
    async run(t) {
      draw(
        'layouts without a schedulable node',
        t.layouts.filter((l) => l.pchannels.length > 0),
        (layout) => {
          const none: CurrentLayout = {
            nodes: layout.nodes.map((n) => ({ ...n, schedulable: false })),
            pchannels: layout.pchannels,
          };
          let result: unknown;
          try {
            result = t.policy.balance(none);
          } catch (error) {
            check(
              hasCode(error, 'UNAVAILABLE'),
              () =>
                `${t.policy.name}: with no schedulable node balance() threw ${describeError(error)}, not UNAVAILABLE`,
            );
            return;
          }
          fail(
            `${t.policy.name}: with no schedulable node balance() returned ${result instanceof Map ? describeExpected(result) : String(result)} instead of throwing UNAVAILABLE`,
          );
        },
        { ...settings(t), numRuns: Math.max(1, Math.ceil(t.numRuns / 4)) },
      );
    },
  },
  {
    group: 'stability',
    name: PINNED,
    async run(t) {
      const coverage = new Coverage();
      draw(
        'layouts with pinned pchannels',
        t.layouts,
        (layout) => {
          const expected = run(t.policy, layout, 'the layout');
          const nodes = schedulable(layout);
          for (const p of layout.pchannels) {
            if (p.movable !== false || p.nodeId === undefined || !nodes.has(p.nodeId)) continue;
            coverage.add('a pinned pchannel on a schedulable node');
            check(
              expected.get(p.name) === p.nodeId,
              () =>
                `${t.policy.name}: pinned ${p.name} moved ${p.nodeId}→${expected.get(p.name) ?? '(none)'}`,
            );
          }
        },
        settings(t, fixedExamples()),
      );
      coverage.require('a pinned pchannel on a schedulable node');
    },
  },
  {
    group: 'stability',
    name: STAYS_PUT,
    async run(t) {
      const coverage = new Coverage();
      draw(
        'settled layouts',
        fc.tuple(t.layouts, fc.integer({ min: 1, max: 2 ** 30 })),
        ([layout, seed]) => {
          const { layout: settled, rounds } = settle(t.policy, layout);
          if (rounds > 1) coverage.add('a layout that needed moves');
          const again = run(t.policy, shuffled(settled, seed), 'the settled layout, reordered');
          const moved = moves(settled, again);
          check(
            moved.length === 0,
            () => `${t.policy.name}: a layout it settled on moved again when reordered: ${moved.join(', ')}`,
          );
        },
        settings(t, withSeed(fixedExamples(), 3), describeSeeded),
      );
      coverage.require('a layout that needed moves');
    },
  },
  {
    group: 'balance',
    name: CONVERGES,
    async run(t) {
      const start = joinedNodeLayout();
      const { layout } = settle(t.policy, start);
      const before = new Map(start.pchannels.map((p) => [p.name, p.nodeId]));
      const moved = layout.pchannels.filter((p) => p.nodeId !== before.get(p.name));
      const elsewhere = moved.filter((p) => p.nodeId !== '5');
      check(moved.length > 0, `${t.policy.name}: nothing moved onto node 5, which joined four nodes of 16`);
      check(
        elsewhere.length === 0,
        () =>
          `${t.policy.name}: besides filling node 5 it moved ${elsewhere.map((p) => `${p.name} ${before.get(p.name)}→${p.nodeId}`).join(', ')}`,
      );
      draw('layouts', t.layouts, (l) => void settle(t.policy, l), settings(t));
    },
  },
  {
    group: 'balance',
    name: BOUNDED,
    async run(t) {
      const bound = t.policy.bound;
      if (!bound) return t.skip('the policy states no bound');
      const coverage = new Coverage();
      draw(
        'settled layouts',
        t.layouts,
        (layout) => {
          const { layout: settled } = settle(t.policy, layout);
          const assignment = assignmentOf(settled);
          const cost = bound.cost(settled, assignment);
          const nodes = [...schedulable(settled)];
          if (nodes.length > 1 && settled.pchannels.length > 1) coverage.add('a layout with a move to try');
          for (const p of settled.pchannels) {
            if (p.movable === false) continue;
            for (const nodeId of nodes) {
              if (nodeId === p.nodeId) continue;
              const moved = new Map(assignment).set(p.name, nodeId);
              const gain = cost - bound.cost(settled, moved);
              check(
                gain <= bound.tolerance + EPSILON,
                () =>
                  `${t.policy.name} settled at cost ${cost}, but moving ${p.name} ${p.nodeId}→${nodeId} lowers it by ${gain} (tolerance ${bound.tolerance}); settled: ${describeExpected(assignment)}`,
              );
            }
          }
        },
        settings(t, fixedExamples()),
      );
      coverage.require('a layout with a move to try');
    },
  },
];

/** The policy cases bound to `options`: plain data any runner can register or run directly. */
export function policyConformanceCases(options: PolicyConformanceOptions): PolicyConformanceCase[] {
  const policyOption = options?.policy;
  if (
    typeof policyOption !== 'function' &&
    (typeof policyOption !== 'object' || policyOption === null || typeof policyOption.balance !== 'function')
  ) {
    throw new WalError(
      'INVALID_ARGUMENT',
      'balance policy conformance: `policy` must be a BalancePolicy or a function that makes one',
    );
  }
  const definitions = options.cases ?? policyCaseDefinitions;
  validateSelection(SUITE, definitions, options);
  const timeoutMs = positiveOption(SUITE, options.timeoutMs, 60_000, 'timeoutMs');
  const numRuns = positiveOption(SUITE, options.numRuns, 200, 'numRuns');
  const layouts = layoutArbitrary({
    maxNodes: positiveOption(SUITE, options.maxNodes, 6, 'maxNodes'),
    maxPChannels: positiveOption(SUITE, options.maxPChannels, 24, 'maxPChannels'),
  });
  const make = (): BalancePolicy => (typeof policyOption === 'function' ? policyOption() : policyOption);
  return bindCases(definitions, options, timeoutMs, (definition, runner) =>
    runWithDeadline(
      {
        name: definition.name,
        timeoutMs,
        graceMs: 200,
        passesWithinGrace: true,
        open: (signal): PolicyTestContext => ({
          signal,
          policy: make(),
          numRuns,
          seed: options.seed,
          layouts,
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
 * Registers the policy suite with the caller's runner, one `describe` per group:
 *
 * ```ts norun
 * registerPolicyConformance({ describe, test }, { policy: vchannelFairPolicy() });
 * ```
 */
export function registerPolicyConformance(
  runner: TestRegistrar,
  options: PolicyConformanceOptions & { readonly suiteName?: string },
): void {
  registerCases(runner, SUITE, policyConformanceCases(options), options.suiteName);
}

/** Runs every policy case one after the other and reports each outcome. */
export function runPolicyConformance(
  options: PolicyConformanceOptions,
  onResult?: (result: PolicyCaseResult) => void,
): Promise<PolicyReport> {
  return runCases(policyConformanceCases(options), onResult);
}
