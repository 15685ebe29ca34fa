/**
 * A planned drain of a node process holding 8 pchannels on a real Kafka broker, through a coordinator
 * process on a real etcd. `pnpm campaign:failover` prints the same figures.
 */
import '@walstream/adapter-kafka';
import { hasCode } from '@walstream/core';
import { describe, expect, test } from 'vitest';
import { failoverEnv } from '../support/failover-env.js';
import { drainNode } from '../support/failover-scenarios.js';

const cluster = failoverEnv();

describe('node processes under a coordinator process, on etcd and Kafka', () => {
  test('a planned drain of a node holding 8 pchannels: each is closed there, opened on another node at term + 1 and writable; the old term is refused', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `pd${i}`);
    const c = await cluster(names);
    const first = await c.spawnNode();
    // No balance moves: the nodes that join later stay empty until the drain.
    await c.whenActive(c.spawnCoordinator({ rebalance: false }), 60_000);
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
    // Each pchannel was closed on the drained node and opened on another (their WAL lifetime steps).
    expect(result.steps.every((step) => Number.isFinite(step.closeMs) && Number.isFinite(step.openMs))).toBe(
      true,
    );
    process.stderr.write(
      `drain of 8 pchannels: ${result.totalMs} ms in all, per pchannel ${result.perMoveMs.join(', ')} ms; new owner's open ${result.steps.map((step) => step.openMs).join(', ')} ms\n`,
    );
  });
});
