/**
 * A node in a child process on the memory adapter, this test acting as the coordinator and the clients
 * over gRPC: the protocol, bad requests, and flow control measured in the node process.
 */

import { Client, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import { DeliverFilter, DeliverPolicy, hasCode, MutableMessage, pchannel, WalError } from '@walstream/core';
import { beginTxnMessage, commitTxnMessage, createVChannel, inTxn } from '@walstream/interceptors';
import {
  connectRpc,
  create,
  ERROR_TRAILER,
  fromBinary,
  ProduceRequestSchema,
  type RpcChannel,
  StreamingErrorSchema,
  toBinary,
  toWirePChannel,
  WalLifetimeState,
} from '@walstream/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userMessage } from './support/in-process.js';
import { type NodeChild, spawnNode } from './support/spawn-node.js';
import { assignReady, statusOf, WireConsumer, WireProducer, waitFor } from './support/wire.js';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error.code;
    throw error;
  }
  return 'none';
}

describe('a node process on the memory adapter', () => {
  let node: NodeChild;
  let rpc: RpcChannel;
  const SLOW = 'slow';

  beforeAll(async () => {
    node = await spawnNode({
      adapter: 'memory',
      nodeId: '11',
      appendDelayMs: 200,
      slowPChannels: [SLOW, 'flood'],
      flowControl: { maxInFlightPerStream: 64, maxBytesInFlight: 256 * 1024 },
    });
    rpc = connectRpc(node.address);
  });
  afterAll(async () => {
    rpc?.close();
    expect(await node?.close()).toBe(0);
  });

  it('produces and consumes over the wire: every append answered by id, a txn delivered as one unit', async () => {
    await assignReady(rpc, 'basic', 1n);
    const producer = await WireProducer.open(rpc, 'basic', 1n);
    expect(producer.maxInFlight).toBe(64);
    const vchannel = 'basic_v0';
    const created = await producer.append(createVChannel(vchannel));
    const sent = await Promise.all(
      Array.from({ length: 50 }, (_, i) => producer.send(userMessage(vchannel, i))),
    );
    const results = await Promise.all(sent.map((s) => s.result));
    expect(new Set(results.map((r) => r.messageId.marshal())).size).toBe(50);
    const begin = await producer.append(beginTxnMessage(vchannel));
    expect(begin.txn).toBeDefined();
    await producer.append(inTxn(userMessage(vchannel, 50), begin.txn!));
    await producer.append(inTxn(userMessage(vchannel, 51), begin.txn!));
    await producer.append(commitTxnMessage(vchannel, begin.txn!));
    await producer.close();
    expect(producer.closed).toBe(true);
    expect(producer.endError).toBeUndefined();

    const consumer = await WireConsumer.open(
      rpc,
      'basic',
      1n,
      vchannel,
      DeliverPolicy.startAfter(created.messageId),
    );
    await waitFor(() => consumer.seqs().length === 52, '52 messages');
    expect(consumer.seqs()).toEqual(Array.from({ length: 52 }, (_, i) => String(i)));
    const txns = consumer.received.filter((d) => d.kind === 'txn');
    expect(txns).toHaveLength(1);
    expect(txns[0]!.message.bodies.map((b) => b.properties.seq)).toEqual(['50', '51']);
    await consumer.close();
    expect(consumer.closed).toBe(true);
  });

  it('answers in completion order: an append refused up front overtakes a slow one sent before it', async () => {
    await assignReady(rpc, SLOW, 1n);
    const producer = await WireProducer.open(rpc, SLOW, 1n);
    await producer.append(createVChannel(`${SLOW}_v0`));
    const slow = await producer.send(userMessage(`${SLOW}_v0`, 1));
    // A vchannel never created: the shard interceptor refuses it before the store's delay.
    const fast = await producer.send(userMessage(`${SLOW}_nowhere`, 2));
    expect(await codeOf(fast.result)).toBe('VCHANNEL_NOT_FOUND');
    await slow.result;
    expect(producer.completionOrder.slice(-2)).toEqual([fast.id, slow.id]);
    await producer.close();
  });

  it('refuses a producer on a pchannel it does not hold, at another term, or that starts without open', async () => {
    await assignReady(rpc, 'terms', 2n);
    expect(await codeOf(WireProducer.open(rpc, 'unknown', 1n))).toBe('CHANNEL_NOT_EXIST');
    expect(await codeOf(WireProducer.open(rpc, 'terms', 1n))).toBe('UNMATCHED_CHANNEL_TERM');
    expect(await codeOf(WireConsumer.open(rpc, 'terms', 3n, 'terms_v0', DeliverPolicy.all()))).toBe(
      'UNMATCHED_CHANNEL_TERM',
    );
    // The node still serves the pchannel it holds.
    const producer = await WireProducer.open(rpc, 'terms', 2n);
    await producer.append(createVChannel('terms_v0'));
    await producer.close();
  });

  it('answers a malformed message with a coded error and goes on with the stream', async () => {
    await assignReady(rpc, 'malformed', 1n);
    const producer = await WireProducer.open(rpc, 'malformed', 1n);
    await producer.append(createVChannel('malformed_v0'));
    // A message type that is not a number.
    const bad = new MutableMessage(new Uint8Array(3), { _t: 'not-a-type' }).withVChannel('malformed_v0');
    expect(await codeOf(producer.append(bad))).toBe('INVALID_ARGUMENT');
    // A timetick preset by the producer: only the WAL stamps it.
    const stamped = userMessage('malformed_v0', 0).withTimeTick(1n);
    expect(await codeOf(producer.append(stamped))).toBe('INVALID_ARGUMENT');
    await producer.append(userMessage('malformed_v0', 1));
    await producer.close();
  });

  it('ends a stream that sends a garbage frame INVALID_ARGUMENT, and keeps serving the others', async () => {
    await assignReady(rpc, 'garbage', 1n);
    const setup = await WireProducer.open(rpc, 'garbage', 1n);
    await setup.append(createVChannel('garbage_v0'));
    const raw = new Client(node.address, credentials.createInsecure());
    const identity = (bytes: Buffer): Buffer => bytes;
    const open = toBinary(
      ProduceRequestSchema,
      create(ProduceRequestSchema, {
        request: { case: 'open', value: { pchannel: toWirePChannel(pchannel('garbage', 1n)) } },
      }),
    );
    const ended = await new Promise<{ code: number; walCode?: string }>((resolve) => {
      const call = raw.makeBidiStreamRequest('/walstream.v1.NodeHandlerService/Produce', identity, identity);
      call.on('data', () => {});
      call.on('error', () => {});
      call.on('status', (status) => {
        const trailer = status.metadata.get(ERROR_TRAILER)[0];
        resolve({
          code: status.code,
          ...(Buffer.isBuffer(trailer) ? { walCode: fromBinary(StreamingErrorSchema, trailer).code } : {}),
        });
      });
      call.write(Buffer.from(open));
      // Field 2 (produce) as a length-delimited field that claims more bytes than follow.
      call.write(Buffer.from([0x12, 0x7f, 0x01, 0x02]));
    });
    raw.close();
    expect(ended.code).not.toBe(GrpcStatus.OK);
    expect(ended.walCode).toBe('INVALID_ARGUMENT');
    // The producer opened before goes on.
    await setup.append(userMessage('garbage_v0', 1));
    await setup.close();
  });

  it('lets the appends of a client that vanished complete, and keeps serving the others', async () => {
    await assignReady(rpc, 'vanish', 1n);
    const setup = await WireProducer.open(rpc, 'vanish', 1n);
    await setup.append(createVChannel('vanish_v0'));
    await setup.close();
    const other = connectRpc(node.address);
    const leaving = await WireProducer.open(other, 'vanish', 1n);
    for (let i = 0; i < 20; i++) await leaving.send(userMessage('vanish_v0', i));
    leaving.cancel();
    other.close();
    await waitFor(async () => (await statusOf(rpc, 'vanish'))?.appendsInFlight === 0, 'no appends in flight');
    expect((await node.stats()).appendsInFlight).toBe(0);
    const staying = await WireProducer.open(rpc, 'vanish', 1n);
    await staying.append(userMessage('vanish_v0', 100));
    await staying.close();
  });

  it('bounds what a producer that never waits makes the node hold (measured), refusing the excess', async () => {
    await assignReady(rpc, 'flood', 1n);
    const producer = await WireProducer.open(rpc, 'flood', 1n);
    await producer.append(createVChannel('flood_v0'));
    const before = await node.stats();
    const sent = [];
    // 8000 × 1 KiB sent without waiting on a store that takes 200 ms an append.
    for (let i = 0; i < 8000; i++) sent.push(await producer.send(userMessage('flood_v0', i, 1024)));
    const outcomes = await Promise.allSettled(sent.map((s) => s.result));
    const after = await node.stats();
    const rejected = outcomes.filter(
      (o) => o.status === 'rejected' && hasCode(o.reason, 'RATE_LIMIT_REJECTED'),
    ).length;
    const ok = outcomes.filter((o) => o.status === 'fulfilled').length;
    expect(ok + rejected).toBe(8000);
    expect(rejected).toBeGreaterThan(4000);
    expect(after.peakAppendsInFlight).toBeLessThanOrEqual(64);
    expect(after.peakBytesInFlight).toBeLessThanOrEqual(256 * 1024);
    // The heap after a full GC grew by what the memory store keeps of the accepted appends (with its
    // write-ahead buffer), plus slack — not by the 8 MiB the producer pushed at it.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(ok * 2048 + 2 * 1024 * 1024);
    await producer.close();
  });

  it('reports each WAL in CollectStatus: term, READY, timeticks', async () => {
    const status = await statusOf(rpc, 'basic');
    expect(status?.state).toBe(WalLifetimeState.READY);
    expect(status?.pchannel?.term).toBe(1n);
    expect(status!.lastSyncedTimeTick).toBeGreaterThan(0n);
  });

  it('filters by timetick over the wire', async () => {
    const producer = await WireProducer.open(rpc, 'basic', 1n);
    const a = await producer.append(userMessage('basic_v0', 1000));
    await producer.append(userMessage('basic_v0', 1001));
    await producer.close();
    const consumer = await WireConsumer.open(
      rpc,
      'basic',
      1n,
      'basic_v0',
      DeliverPolicy.startFrom(a.messageId),
      [DeliverFilter.timeTickGT(a.timeTick)],
    );
    await waitFor(() => consumer.seqs().includes('1001'), 'message 1001');
    expect(consumer.seqs()[0]).toBe('1001');
    await consumer.close();
  });
});
