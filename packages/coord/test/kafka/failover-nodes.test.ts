/**
 * Node processes on a real Kafka broker, registered in a real etcd (TTL 2 s), under a coordinator process
 * (`runCoordinator`) with a standby: a node SIGKILLed and a planned drain. The long version, with p50/p99
 * over ≥ 20 kills, is `pnpm campaign:failover`.
 */
import '@walstream/adapter-kafka';
import { hasCode } from '@walstream/core';
import { type EtcdServer, startEtcd } from '@walstream/testkit/etcd';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { drainNode, killNode } from '../support/failover-scenarios.js';
import { ProcessCluster } from '../support/process-cluster.js';

const bootstrap = inject('kafkaBootstrap');
const TTL_SECONDS = 2;
let etcd: EtcdServer;
const clusters: ProcessCluster[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 120_000);
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.close();
});
afterAll(async () => {
  await etcd?.stop();
});

async function cluster(pchannels: readonly string[]): Promise<ProcessCluster> {
  const c = new ProcessCluster(etcd.endpoints, bootstrap, pchannels, TTL_SECONDS);
  clusters.push(c);
  await c.open();
  return c;
}

describe('node processes under a coordinator process, on etcd and Kafka', () => {
  test('a SIGKILLed node: its pchannels reopen elsewhere at term + 1 and take appends; its old owner is gone from the sessions', async () => {
    const c = await cluster(['nk0', 'nk1', 'nk2', 'nk3']);
    await Promise.all([c.spawnNode(), c.spawnNode(), c.spawnNode()]);
    await c.whenActive(c.spawnCoordinator(), 60_000);
    c.spawnCoordinator();
    await c.untilAssigned([], 60_000);
    await c.createVChannels();
    const metas = await c.metas();
    const victim = c.nodes.find((n) => n.nodeId === metas[0]?.nodeId)!;

    const result = await killNode(c, victim, 1);

    expect(result.pchannels.length).toBeGreaterThan(0);
    for (const p of result.pchannels) expect(p.termAfter).toBe(p.termBefore + 1n);
    expect(c.directory.sessions.map((s) => s.nodeId)).not.toContain(victim.nodeId);
    // The goal is TTL + 1.5 s; the bound here leaves room for a loaded CI machine (figures: docs/coord.md).
    expect(result.firstAckMs).toBeLessThan(10_000);
    process.stderr.write(
      `node SIGKILL → session gone ${result.sessionGoneMs.toFixed(0)} ms, first ack ${result.firstAckMs.toFixed(0)} ms\n`,
    );
  });

  test('a planned drain of a node holding 8 pchannels: each is closed there, opened on another node at term + 1 and writable; the old term is refused', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `pd${i}`);
    const c = await cluster(names);
    const first = await c.spawnNode();
    // No balance moves: the nodes that join later stay empty until the drain.
    await c.whenActive(c.spawnCoordinator(600_000), 60_000);
    await c.untilAssigned([], 60_000);
    await c.createVChannels();
    const before = await c.metas();
    expect(before.every((m) => m.nodeId === first.nodeId)).toBe(true);
    await Promise.all([c.spawnNode(), c.spawnNode()]);

    const result = await drainNode(c, 0, first.nodeId);

    expect(result.pchannels).toBe(8);
    const after = await c.untilAssigned([first.nodeId]);
    for (const meta of after) {
      const old = before.find((m) => m.channel.name === meta.channel.name)!;
      expect(meta.channel.term).toBe(old.channel.term + 1n);
      await c.append(meta, c.note(meta.channel.name, 1));
    }
    // The drained node is still up and in session; it holds no WAL of the old term any more.
    const refused = await c.append(before[0]!, c.note(before[0]!.channel.name, 2)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(
      hasCode(refused, 'CHANNEL_NOT_EXIST', 'CHANNEL_FENCED', 'UNMATCHED_CHANNEL_TERM', 'ON_SHUTDOWN'),
    ).toBe(true);
    expect(result.perMoveMs.every((ms) => Number.isFinite(ms))).toBe(true);
    process.stderr.write(
      `drain of 8 pchannels: ${result.totalMs} ms in all, per pchannel ${result.perMoveMs.join(', ')} ms\n`,
    );
  });
});
