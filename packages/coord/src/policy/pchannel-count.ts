import type { BalancePolicy, CurrentLayout, ExpectedLayout } from '@walstream/core';
import { isMovable, prepare } from './common.js';
import { compareNodeIds } from './order.js';

export const PCHANNEL_COUNT = 'pchannelCount';

/** Σ (pchannels on the node − mean)² over the schedulable nodes. */
function countCost(layout: CurrentLayout, assignment: ExpectedLayout): number {
  const counts = new Map<string, number>();
  for (const node of layout.nodes) if (node.schedulable) counts.set(node.nodeId, 0);
  if (counts.size === 0) return 0;
  for (const nodeId of assignment.values()) counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  const mean = assignment.size / counts.size;
  let cost = 0;
  for (const count of counts.values()) cost += (count - mean) ** 2;
  return cost;
}

/**
 * Balances the number of pchannels per node: once it stops moving, the counts of two schedulable nodes
 * differ by at most one (pinned pchannels aside). Pchannels keep their node while they can; an unplaced
 * one goes to the node with the fewest, and while some node has two more than another, one of its
 * movable pchannels (the first by name) moves there.
 */
export function pchannelCountPolicy(): BalancePolicy {
  return {
    name: PCHANNEL_COUNT,
    bound: { cost: countCost, tolerance: 0 },
    balance(layout) {
      const { nodes, pchannels, placed } = prepare(PCHANNEL_COUNT, layout);
      const members = new Map<string, string[]>(nodes.map((id) => [id, []]));
      const result = new Map<string, string>();
      const fewest = (): string => {
        let best = nodes[0] as string;
        for (const id of nodes) {
          if ((members.get(id)?.length ?? 0) < (members.get(best)?.length ?? 0)) best = id;
        }
        return best;
      };
      for (const p of pchannels) {
        const nodeId = placed.get(p.name);
        if (nodeId !== undefined) {
          members.get(nodeId)?.push(p.name);
          result.set(p.name, nodeId);
        }
      }
      for (const p of pchannels) {
        if (result.has(p.name)) continue;
        const nodeId = fewest();
        members.get(nodeId)?.push(p.name);
        result.set(p.name, nodeId);
      }
      const movable = new Set(pchannels.filter(isMovable).map((p) => p.name));
      // Each move lowers Σ count² by at least 2, so this ends.
      for (;;) {
        const target = fewest();
        let source: string | undefined;
        for (const id of nodes) {
          const list = members.get(id) ?? [];
          if (!list.some((name) => movable.has(name))) continue;
          const size = list.length;
          const best = source === undefined ? -1 : (members.get(source)?.length ?? 0);
          if (size > best || (size === best && compareNodeIds(id, source ?? id) < 0)) source = id;
        }
        if (source === undefined) break;
        const from = members.get(source) ?? [];
        const to = members.get(target) ?? [];
        if (from.length - to.length < 2) break;
        const name = [...from].sort().find((n) => movable.has(n)) as string;
        from.splice(from.indexOf(name), 1);
        to.push(name);
        result.set(name, target);
      }
      return result;
    },
  };
}
