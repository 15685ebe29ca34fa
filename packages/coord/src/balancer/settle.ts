import type { BalancePolicy, CurrentLayout, ExpectedLayout } from '@walstream/core';

/**
 * Runs the policy on its own output until it keeps what it has, in memory, and returns where it settles.
 * The balancer acts on that final layout only, so one pass moves each pchannel at most once, however
 * many rounds the policy takes (vchannelFair moves a few pchannels per round).
 */
export function settle(
  policy: BalancePolicy,
  start: CurrentLayout,
): { expected: ExpectedLayout; rounds: number } {
  const limit = 4 * start.pchannels.length + 8;
  let layout = start;
  let expected = policy.balance(layout);
  for (let round = 1; round < limit; round++) {
    let changed = false;
    const pchannels = layout.pchannels.map((p) => {
      const nodeId = expected.get(p.name);
      if (nodeId === undefined || nodeId === p.nodeId) return p;
      changed = true;
      return { ...p, nodeId };
    });
    if (!changed) return { expected, rounds: round };
    layout = { nodes: layout.nodes, pchannels };
    expected = policy.balance(layout);
  }
  return { expected, rounds: limit };
}
