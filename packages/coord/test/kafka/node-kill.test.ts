/**
 * Node processes on a real Kafka broker, registered in a real etcd (TTL 2 s), under a coordinator process
 * (`runCoordinator`) with a standby: a node SIGKILLed. The long version, with p50/p99 over ≥ 20 kills, is
 * `pnpm campaign:failover`.
 */
import '@walstream/adapter-kafka';
import { describe, expect, test } from 'vitest';
import { failoverEnv } from '../support/failover-env.js';
import { killNode } from '../support/failover-scenarios.js';

const cluster = failoverEnv();

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
});
