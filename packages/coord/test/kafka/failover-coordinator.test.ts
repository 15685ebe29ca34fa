/**
 * Coordinator processes (`runCoordinator`, election TTL 2 s) over node processes on a real Kafka broker and
 * a real etcd: the active one SIGKILLed in the middle of a drain and in the middle of a broadcast — the
 * standby finishes both from what is saved in etcd — and the TSO across 10 coordinator restarts.
 */
import '@walstream/adapter-kafka';
import { exclusiveResourceKey, hasCode, newMessage, ResourceDomain } from '@walstream/core';
import {
  AllocateRequestSchema,
  BroadcastRequestSchema,
  connectRpc,
  create,
  toWireMessage,
} from '@walstream/rpc';
import { type EtcdServer, startEtcd } from '@walstream/testkit/etcd';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import type { JsonChild } from '../support/json-child.js';
import { FailoverDdl, ProcessCluster } from '../support/process-cluster.js';

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

interface TaskLine {
  readonly id: string;
  readonly state: string;
  readonly appended: number;
  readonly acked: number;
  readonly error?: string;
}
const tasksOf = (line: Record<string, unknown>): TaskLine[] =>
  (line.broadcast as TaskLine[] | undefined) ?? [];

describe('the active coordinator process SIGKILLed', () => {
  test('mid-drain and mid-broadcast: each standby in turn finishes from etcd — the drain from the saved mark and metas, the broadcast acked on every vchannel; the old owners are refused', async () => {
    const c = await cluster(['cm0', 'cm1', 'cm2', 'cm3']);
    await Promise.all([c.spawnNode(), c.spawnNode(), c.spawnNode()]);
    const a = c.spawnCoordinator();
    await c.whenActive(a, 60_000);
    const b = c.spawnCoordinator();
    await b.waitLine((l) => l.role === 'standby', 'standby', 60_000);
    await c.untilAssigned([], 60_000);
    await c.createVChannels();
    const before = await c.metas();
    const drained = before[0]!.nodeId!;

    // Mid-move: A starts the drain and dies at its first move.
    const from = a.lines.length;
    a.send({ cmd: 'drain', nodeId: drained });
    await a.waitLine(
      (l) => (l.move as { outcome?: string } | undefined)?.outcome === 'started',
      'a move',
      30_000,
      from,
    );
    await a.kill();
    const addressB = await c.whenActive(b, 30_000);
    const afterDrain = await c.untilAssigned([drained], 30_000);
    for (const meta of afterDrain) {
      const old = before.find((m) => m.channel.name === meta.channel.name)!;
      expect(meta.channel.term).toBeGreaterThanOrEqual(old.channel.term);
      if (old.nodeId === drained) {
        expect(meta.channel.term).toBeGreaterThan(old.channel.term);
        const refused = await c.append(old, c.note(old.channel.name, 1)).catch((error: unknown) => error);
        expect(
          hasCode(refused, 'CHANNEL_NOT_EXIST', 'CHANNEL_FENCED', 'UNMATCHED_CHANNEL_TERM', 'ON_SHUTDOWN'),
        ).toBe(true);
      }
      await c.append(meta, c.note(meta.channel.name, 2));
    }
    // B moved what A had left on the drained node: it kept A's mark.
    expect(
      b.lines.some((l) => {
        const move = l.move as { reason?: string } | undefined;
        return move?.reason === 'drain' || move?.reason === 'resume';
      }),
    ).toBe(true);

    // Mid-broadcast: one vchannel's owner is SIGKILLed, so its copy waits; B dies with the task pending.
    const cStandby = c.spawnCoordinator();
    await cStandby.waitLine((l) => l.role === 'standby', 'standby', 60_000);
    const victim = c.nodes.find((n) => n.nodeId === afterDrain[1]!.nodeId)!;
    await victim.child.kill();
    c.nodes.splice(c.nodes.indexOf(victim), 1);
    const vchannels = c.pchannels.map((p) => c.vchannel(p));
    const message = newMessage(FailoverDdl)
      .broadcast(vchannels, [exclusiveResourceKey(ResourceDomain.CollectionName, 'db:failover')])
      .body(new Uint8Array([9]))
      .build();
    const rpc = connectRpc(addressB);
    const call = rpc.broadcast
      .broadcast(create(BroadcastRequestSchema, { message: toWireMessage(message) }))
      .catch((error: unknown) => error);
    const fromB = b.lines.length;
    const pending = await b.waitLine(
      (l) => tasksOf(l).some((t) => t.state === 'pending' && t.appended < vchannels.length),
      'a pending broadcast',
      30_000,
      fromB,
    );
    const id = tasksOf(pending).find((t) => t.state === 'pending')!.id;
    await b.kill();
    expect(await call).toBeInstanceOf(Error);
    rpc.close();

    await c.whenActive(cStandby, 30_000);
    const ended = await cStandby.waitLine(
      (l) => tasksOf(l).some((t) => t.id === id && (t.state === 'tombstone' || t.state === 'dead-letter')),
      `broadcast ${id} finished`,
      30_000,
    );
    const task = tasksOf(ended).find((t) => t.id === id)!;
    expect(task, task.error).toMatchObject({
      state: 'tombstone',
      appended: vchannels.length,
      acked: vchannels.length,
    });
    // One owner per pchannel, at a term no lower than any it had.
    const final = await c.untilAssigned([drained, victim.nodeId], 30_000);
    for (const meta of final) {
      const mid = afterDrain.find((m) => m.channel.name === meta.channel.name)!;
      if (mid.nodeId === victim.nodeId) expect(meta.channel.term).toBeGreaterThan(mid.channel.term);
      await c.append(meta, c.note(meta.channel.name, 3));
    }
  });

  test('the TSO rises strictly across 10 coordinator restarts (8 resignations, 2 SIGKILLs)', async () => {
    const c = await cluster(['ts0']);
    let current: JsonChild = c.spawnCoordinator();
    let address = await c.whenActive(current, 60_000);
    const batches: { first: bigint; last: bigint }[] = [];
    const allocate = async (at: string): Promise<void> => {
      const rpc = connectRpc(at);
      try {
        const batch = await rpc.tso.allocate(create(AllocateRequestSchema, { count: 16 }));
        batches.push({ first: batch.first, last: batch.first + BigInt(batch.count) - 1n });
      } finally {
        rpc.close();
      }
    };
    for (let restart = 1; restart <= 10; restart++) {
      const next = c.spawnCoordinator();
      await next.waitLine((l) => l.role === 'standby', 'standby', 60_000);
      await allocate(address);
      if (restart % 5 === 0) await current.kill();
      else current.send({ cmd: 'close' });
      address = await c.whenActive(next, 30_000);
      current = next;
    }
    await allocate(address);
    expect(batches).toHaveLength(11);
    for (let i = 1; i < batches.length; i++) expect(batches[i]!.first).toBeGreaterThan(batches[i - 1]!.last);
  });
});
