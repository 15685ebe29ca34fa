/**
 * Node processes on the run's real Kafka broker, this test acting as the coordinator and the clients over
 * gRPC: produce and consume, a txn, and fencing between two nodes that both think they own a pchannel.
 */
// Registers the `kafka` MessageID codec, so results and messages of the nodes decode here.
import '@walstream/adapter-kafka';
import { DeliverPolicy, hasCode } from '@walstream/core';
import { beginTxnMessage, commitTxnMessage, createVChannel, inTxn } from '@walstream/interceptors';
import { connectRpc } from '@walstream/rpc';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { userMessage } from '../support/in-process.js';
import { type NodeChild, spawnNode } from '../support/spawn-node.js';
import { assignReady, WireConsumer, WireProducer, waitFor } from '../support/wire.js';

const bootstrap = inject('kafkaBootstrap');
const prefix = `node-${process.pid}-${Date.now().toString(36)}-`;
const nodes: NodeChild[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) await node.kill();
});

async function kafkaNode(nodeId: string): Promise<NodeChild> {
  const node = await spawnNode({ adapter: 'kafka', bootstrap, topicPrefix: prefix, nodeId });
  nodes.push(node);
  return node;
}

describe('node processes on Kafka', () => {
  it('produce and consume over the wire, a txn delivered as one unit', async () => {
    const node = await kafkaNode('31');
    const rpc = connectRpc(node.address);
    await assignReady(rpc, 'basic', 1n);
    const producer = await WireProducer.open(rpc, 'basic', 1n);
    const created = await producer.append(createVChannel('basic_v0'));
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => (await producer.send(userMessage('basic_v0', i))).result),
    );
    expect(new Set(results.map((r) => r.messageId.marshal())).size).toBe(100);
    const begin = await producer.append(beginTxnMessage('basic_v0'));
    await producer.append(inTxn(userMessage('basic_v0', 100), begin.txn!));
    await producer.append(inTxn(userMessage('basic_v0', 101), begin.txn!));
    await producer.append(commitTxnMessage('basic_v0', begin.txn!));
    await producer.close();
    expect(producer.endError).toBeUndefined();

    const consumer = await WireConsumer.open(
      rpc,
      'basic',
      1n,
      'basic_v0',
      DeliverPolicy.startAfter(created.messageId),
    );
    await waitFor(() => consumer.seqs().length === 102, '102 messages');
    expect(consumer.seqs()).toEqual(Array.from({ length: 102 }, (_, i) => String(i)));
    expect(consumer.received.filter((d) => d.kind === 'txn')).toHaveLength(1);
    await consumer.close();
    rpc.close();
    expect(await node.close()).toBe(0);
  });

  it("fences across processes: B opens term 2 while A holds term 1; A's appends are refused CHANNEL_FENCED and none lands after B's first message", async () => {
    const [a, b] = await Promise.all([kafkaNode('41'), kafkaNode('42')]);
    const rpcA = connectRpc(a.address);
    const rpcB = connectRpc(b.address);
    await assignReady(rpcA, 'fenced', 1n);
    const producerA = await WireProducer.open(rpcA, 'fenced', 1n);
    await producerA.append(createVChannel('fenced_v0'));
    // A keeps appending (8 in flight) with seq ≥ 0 while B takes over.
    const outcomes: { seq: number; ok: boolean; code?: string }[] = [];
    let stop = false;
    const pumpA = (async () => {
      let seq = 0;
      const inFlight = new Set<Promise<void>>();
      while (!stop && !producerA.endError) {
        const n = seq++;
        let sent: Awaited<ReturnType<WireProducer['send']>>;
        try {
          sent = await producerA.send(userMessage('fenced_v0', n));
        } catch {
          break;
        }
        const settled = sent.result.then(
          () => void outcomes.push({ seq: n, ok: true }),
          (error: unknown) =>
            void outcomes.push({ seq: n, ok: false, code: (error as { code?: string }).code }),
        );
        inFlight.add(settled);
        void settled.then(() => inFlight.delete(settled));
        if (inFlight.size >= 8) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    })();
    await waitFor(() => outcomes.filter((o) => o.ok).length >= 50, 'A to land 50 appends');

    await assignReady(rpcB, 'fenced', 2n);
    const producerB = await WireProducer.open(rpcB, 'fenced', 2n);
    const firstB = await producerB.append(userMessage('fenced_v0', 1_000_000));
    await waitFor(
      () => producerA.endError !== undefined || outcomes.some((o) => o.code === 'CHANNEL_FENCED'),
      'A fenced',
    );
    stop = true;
    await pumpA;
    await producerA.ended;
    // A's stream ends CHANNEL_FENCED, and what A still had in flight was refused the same way.
    expect(hasCode(producerA.endError, 'CHANNEL_FENCED')).toBe(true);
    expect(outcomes.some((o) => o.code === 'CHANNEL_FENCED')).toBe(true);
    await producerB.append(userMessage('fenced_v0', 1_000_001));
    await producerB.close();

    // The log as B reads it: nothing of A after B's first message.
    const consumer = await WireConsumer.open(rpcB, 'fenced', 2n, 'fenced_v0', DeliverPolicy.all());
    await waitFor(() => consumer.seqs().includes('1000001'), "B's second message");
    const seqs = consumer.seqs().map(Number);
    const firstBAt = seqs.indexOf(1_000_000);
    expect(firstBAt).toBeGreaterThan(0);
    expect(seqs.slice(firstBAt)).toEqual([1_000_000, 1_000_001]);
    // Every append A was told succeeded is in the log, before B's first message.
    const landed = new Set(seqs.slice(0, firstBAt));
    expect(outcomes.filter((o) => o.ok && !landed.has(o.seq))).toEqual([]);
    expect(firstB.messageId).toBeDefined();
    await consumer.close();
    rpcA.close();
    rpcB.close();
  });
});
