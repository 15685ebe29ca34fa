import { type PChannelInfo, WalError } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { afterEach, expect, test } from 'vitest';
import type { InProcessNode, NodeManagerClient, NodeStatusReport } from '../src/index.js';
import { names, TestCluster, until } from './support/cluster.js';

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.close();
});

/** A node that can be made to refuse every call, as a killed process whose session has not expired yet. */
class Killable implements NodeManagerClient {
  dead = false;
  readonly #node: InProcessNode;
  constructor(node: InProcessNode) {
    this.#node = node;
  }
  #check(): void {
    if (this.dead) throw new WalError('UNAVAILABLE', 'connect ECONNREFUSED (the node process is gone)');
  }
  async assign(pchannel: PChannelInfo): Promise<void> {
    this.#check();
    return this.#node.assign(pchannel);
  }
  async remove(pchannel: PChannelInfo): Promise<void> {
    this.#check();
    return this.#node.remove(pchannel);
  }
  async collectStatus(): Promise<NodeStatusReport> {
    this.#check();
    return this.#node.collectStatus();
  }
}

test('a reported pchannel whose owner refuses connections opens elsewhere at term + 1 before the owner’s session ends', async () => {
  cluster = new TestCluster();
  let killable: Killable | undefined;
  await cluster.addNode({
    wrap: (node) => {
      killable = new Killable(node);
      return killable;
    },
  });
  const survivor = await cluster.addNode();
  const balancer = await cluster.startCoordinator(names(2));
  await balancer.idle(AbortSignal.timeout(10_000));
  const victim = balancer.layout.assignments.find((a) => a.nodeId !== survivor.nodeId);
  expect(victim).toBeDefined();
  const deadId = victim!.nodeId;
  killable!.dead = true;
  // A client's produce stream broke: it reports the pchannel at the term it used. The dead node keeps its
  // session throughout the test (its lease would expire a TTL later).
  await balancer.reportError(victim!.pchannel.name, victim!.pchannel.term);
  await until(() => cluster.ownerOf(victim!.pchannel.name) === survivor.nodeId, 5_000);
  expect(cluster.termOf(victim!.pchannel.name)).toBe(victim!.pchannel.term + 1n);
  expect(cluster.sessions.sessions.some((s) => s.nodeId === deadId)).toBe(true);
  // The new owner writes at the new term.
  await cluster
    .ownerWal(victim!.pchannel.name)
    .append((await import('@walstream/interceptors')).createVChannel(`${victim!.pchannel.name}_afterv0`));
});
