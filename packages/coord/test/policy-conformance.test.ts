import type { BalancePolicy } from '@walstream/core';
import {
  POLICY_CASE_NAMES,
  type PolicyReport,
  registerPolicyConformance,
  runPolicyConformance,
} from '@walstream/testkit';
import { describe, expect, test } from 'vitest';
import { pchannelCountPolicy, vchannelFairPolicy } from '../src/index.js';

registerPolicyConformance(
  { describe, test },
  { policy: () => vchannelFairPolicy(), suiteName: 'vchannelFair' },
);
registerPolicyConformance(
  { describe, test },
  { policy: () => pchannelCountPolicy(), suiteName: 'pchannelCount' },
);

function failed(report: PolicyReport): string[] {
  return report.results.filter((r) => r.status === 'failed').map((r) => r.name);
}

/** Deals the pchannels to the schedulable nodes in the order the layout lists them. */
const inInputOrder: BalancePolicy = {
  name: 'input-order',
  balance({ nodes, pchannels }) {
    const ids = nodes.filter((n) => n.schedulable).map((n) => n.nodeId);
    if (ids.length === 0 && pchannels.length > 0) throw new Error('no node');
    const result = new Map<string, string>();
    pchannels.forEach((p, i) => {
      const keep = p.nodeId !== undefined && ids.includes(p.nodeId) && p.movable === false;
      result.set(p.name, keep ? (p.nodeId as string) : (ids[i % ids.length] as string));
    });
    return result;
  },
};

/** Round-robin over every listed node, sorted, schedulable or not. */
const ignoresSchedulable: BalancePolicy = {
  name: 'ignores-schedulable',
  balance({ nodes, pchannels }) {
    const ids = nodes.map((n) => n.nodeId).sort();
    const names = pchannels.map((p) => p.name).sort();
    const result = new Map<string, string>();
    for (const [i, name] of names.entries()) result.set(name, ids[i % ids.length] as string);
    return result;
  },
};

describe('the policy suite tells a wrong policy by case name', () => {
  test('a policy that deals pchannels in input order fails the determinism case', async () => {
    const report = await runPolicyConformance({ policy: inInputOrder, numRuns: 50 });
    expect(failed(report)).toContain(POLICY_CASE_NAMES.deterministic);
    expect(failed(report)).not.toContain(POLICY_CASE_NAMES.complete);
  });

  test('a policy that assigns to unschedulable nodes and moves pinned pchannels fails those cases', async () => {
    const report = await runPolicyConformance({ policy: ignoresSchedulable, numRuns: 50 });
    expect(failed(report)).toEqual(
      expect.arrayContaining([
        POLICY_CASE_NAMES.complete,
        POLICY_CASE_NAMES.noNode,
        POLICY_CASE_NAMES.pinned,
      ]),
    );
    expect(failed(report)).not.toContain(POLICY_CASE_NAMES.deterministic);
  });
});
