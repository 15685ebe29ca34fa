/**
 * Coordinator processes (`runCoordinator`, election TTL 2 s) over node processes on a real Kafka broker and
 * a real etcd: the active one SIGKILLed in the middle of a drain and in the middle of a broadcast — the
 * standby finishes both from what is saved in etcd.
 */
import '@walstream/adapter-kafka';
import { DeliverPolicy, exclusiveResourceKey, hasCode, newMessage, ResourceDomain } from '@walstream/core';
import { BroadcastRequestSchema, connectRpc, create, toWireMessage } from '@walstream/rpc';
import { describe, expect, test } from 'vitest';
// The node package's wire consumer (test support): reads a vchannel on a node over gRPC.
import { WireConsumer } from '../../../node/test/support/wire.js';
import { failoverEnv } from '../support/failover-env.js';
import { FailoverDdl } from '../support/process-cluster.js';

const cluster = failoverEnv();

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
  test('mid-drain and mid-broadcast: each standby in turn finishes from etcd — the drain from the saved mark and metas, the broadcast acked on every vchannel; the old owners are refused; each vchannel holds every acknowledged note once and nothing refused, in timetick order', async () => {
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
    // What each vchannel holds, read on its final owner: every acknowledged note once, none of the
    // refused ones, the broadcast copy (a copy whose save was lost may be there twice), in timetick order.
    for (const meta of final) {
      const owner = c.directory.sessions.find((s) => s.nodeId === meta.nodeId)!;
      const reader = connectRpc(owner.address!);
      const consumer = await WireConsumer.open(
        reader,
        meta.channel.name,
        meta.channel.term,
        c.vchannel(meta.channel.name),
        DeliverPolicy.all(),
      );
      await consumer.until(2);
      await consumer.close();
      reader.close();
      const messages = consumer.received.map((d) => d.message);
      expect(consumer.seqs(), meta.channel.name).toEqual(['2', '3']);
      const copies = messages.filter((m) => m.messageType === FailoverDdl.code).length;
      expect(copies, meta.channel.name).toBeGreaterThanOrEqual(1);
      expect(copies, meta.channel.name).toBeLessThanOrEqual(2);
      const ticks = messages.map((m) => m.timeTick);
      for (let i = 1; i < ticks.length; i++) expect(ticks[i]!).toBeGreaterThan(ticks[i - 1]!);
    }
  });
});
