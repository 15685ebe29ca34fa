import { afterEach, expect, test } from 'vitest';
import type { Layout } from '../src/index.js';
import { GatedAssign, names, TestCluster } from './support/cluster.js';

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.close();
});

function heldBy(layout: Layout, nodeId: string): number {
  return layout.assignments.filter((a) => a.nodeId === nodeId).length;
}

test('a node that joins while the first placements are in flight gets its share once they land, without waiting for a timed round', async () => {
  cluster = new TestCluster();
  let gated: GatedAssign | undefined;
  await cluster.addNode({
    wrap: (node) => {
      gated = new GatedAssign(node);
      gated.hold();
      return gated;
    },
  });
  // The defaults a deployment runs with: a pchannel that moved stays put for five minutes, and the
  // timed round comes every minute — longer than this test may take.
  const balancer = await cluster.startCoordinator(names(4), {
    minMoveIntervalMs: 300_000,
    triggerIntervalMs: 600_000,
  });
  await expect.poll(() => gated?.assigns, { timeout: 10_000 }).toBe(4);
  const second = await cluster.addNode();
  gated?.release();
  await expect.poll(() => heldBy(balancer.layout, second.nodeId), { timeout: 10_000, interval: 20 }).toBe(2);
  await balancer.idle(AbortSignal.timeout(10_000));
  const others = balancer.layout.assignments.filter((a) => a.nodeId !== second.nodeId);
  expect(new Set(others.map((a) => a.nodeId)).size).toBe(1);
  expect(others.length).toBe(2);
  // Two first placements onto the first node were then balanced onto the second, each once.
  const done = cluster.moves.filter((m) => m.outcome === 'done');
  expect(done.filter((m) => m.reason === 'unassigned').length).toBe(4);
  expect(done.filter((m) => m.reason === 'rebalance').map((m) => m.to)).toEqual([
    second.nodeId,
    second.nodeId,
  ]);
});
