/**
 * An idempotent append whose acknowledgement was lost, then its owner SIGKILLed: the owner is a child
 * process on the local adapter behind a TCP proxy that drops its answers; the new owner, in this process,
 * opens the same directory, reads the idempotence window back from the log, and answers the client's
 * retry with the first append's result.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Registers the `local` MessageID codec, so ids from the nodes' store decode here.
import { localAdapter } from '@walstream/adapter-local';
import { RpcNodeManagerClient, serveCoordinator, startCoordinator } from '@walstream/coord';
import {
  DeliverPolicy,
  type ImmutableMessage,
  MemoryCatalog,
  messageIdEquals,
  vchannelName,
} from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { startNode } from '@walstream/node';
import { connectRpc, type WireAppendResult } from '@walstream/rpc';
import { afterEach, describe, expect, test } from 'vitest';
import { spawnNode } from '../../node/test/support/spawn-node.js';
import { WireConsumer } from '../../node/test/support/wire.js';
import { createClient } from '../src/index.js';
import { AckProxy } from './support/ack-proxy.js';
import { note, seqOf, waitFor } from './support/cluster.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('an idempotent append across a SIGKILL of its owner', () => {
  test('the append landed and its answer was lost; the owner is killed; the retry on the new owner lands nothing more and gets the original id and timetick', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'walstream-client-idem-kill-'));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    const catalog = new MemoryCatalog();
    const coordinator = await startCoordinator({
      catalog,
      pchannels: ['cik0'],
      policy: 'pchannelCount',
      balancer: { minMoveIntervalMs: 0, operationTimeoutMs: 5_000, backoff: { initialMs: 10, maxMs: 200 } },
    });
    cleanup.push(() => coordinator.close());
    const child = await spawnNode({ adapter: 'local', directory, nodeId: '211' });
    cleanup.push(() => child.kill());
    const proxy = await AckProxy.start(child.address);
    cleanup.push(() => proxy.close());
    const childRpc = connectRpc(child.address);
    cleanup.push(() => childRpc.close());
    const childSession = coordinator.sessions.join(new RpcNodeManagerClient(childRpc), {
      address: proxy.address,
      nodeId: '211',
    });
    await coordinator.balancer.idle(AbortSignal.timeout(20_000));
    const server = await serveCoordinator(coordinator, { listen: '127.0.0.1:0' });
    cleanup.push(() => server.close({ graceMs: 0 }));
    const client = createClient({
      coord: server.address,
      backoff: { initialMs: 10, maxMs: 200 },
      idempotent: true,
    });
    cleanup.push(() => client.close());

    const vchannel = vchannelName('cik0', 'v0');
    await client.append(createVChannel(vchannel));
    await client.append(note(vchannel, 0));
    // A reader straight at the child (not through the proxy) sees what lands in its log.
    const term = coordinator.channels.get('cik0').channel.term;
    const direct = await WireConsumer.open(childRpc, 'cik0', term, vchannel, DeliverPolicy.all());
    cleanup.push(() => direct.cancel());
    await direct.until(1);

    proxy.hold();
    const appended = client.append(note(vchannel, 1));
    await direct.until(2);
    expect(direct.seqs()).toEqual(['0', '1']);
    await child.kill();
    childSession.leave();
    proxy.cut();

    const node = await startNode({
      adapter: localAdapter({ directory }),
      catalog,
      listen: '127.0.0.1:0',
      nodeId: 212n,
      allocator: coordinator.tso,
    });
    const rpc = connectRpc(node.address);
    const session = coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
      address: node.address,
      nodeId: '212',
    });
    cleanup.push(async () => {
      rpc.close();
      await node.close();
      session.leave();
    });

    const result = await appended;
    expect(client.assignment?.channels.get('cik0')?.nodeId).toBe(212n);
    expect(node.idempotence(), 'the new owner read the window and answered the retry from it').toEqual({
      duplicates: 1,
      rebuilds: 1,
    });
    await client.append(note(vchannel, 2));
    const notes: ImmutableMessage[] = [];
    for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(20_000) })) {
      if (seqOf(message) !== undefined) notes.push(message);
      if (seqOf(message) === 2) break;
    }
    expect(notes.map(seqOf), 'each note once in the log').toEqual([0, 1, 2]);
    expect(messageIdEquals(result.messageId, notes[1]!.id), 'the id the killed owner wrote it at').toBe(true);
    expect(result.timeTick).toBe(notes[1]!.timeTick);
  }, 60_000);

  test('SIGKILL of the owner under four producers: every acknowledged append is in the log once, at the id and timetick it was acknowledged with', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'walstream-client-idem-load-'));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    const catalog = new MemoryCatalog();
    const coordinator = await startCoordinator({
      catalog,
      pchannels: ['cil0'],
      policy: 'pchannelCount',
      balancer: { minMoveIntervalMs: 0, operationTimeoutMs: 5_000, backoff: { initialMs: 10, maxMs: 200 } },
    });
    cleanup.push(() => coordinator.close());
    const child = await spawnNode({ adapter: 'local', directory, nodeId: '221' });
    cleanup.push(() => child.kill());
    const childRpc = connectRpc(child.address);
    cleanup.push(() => childRpc.close());
    const childSession = coordinator.sessions.join(new RpcNodeManagerClient(childRpc), {
      address: child.address,
      nodeId: '221',
    });
    await coordinator.balancer.idle(AbortSignal.timeout(20_000));
    const server = await serveCoordinator(coordinator, { listen: '127.0.0.1:0' });
    cleanup.push(() => server.close({ graceMs: 0 }));
    const client = createClient({
      coord: server.address,
      backoff: { initialMs: 10, maxMs: 200 },
      idempotent: true,
    });
    cleanup.push(() => client.close());

    const vchannel = vchannelName('cil0', 'v0');
    await client.append(createVChannel(vchannel));
    const acked = new Map<number, WireAppendResult>();
    const failures: unknown[] = [];
    let stopping = false;
    let next = 0;
    const producers = Array.from({ length: 4 }, async () => {
      while (!stopping) {
        const seq = next++;
        try {
          acked.set(seq, await client.append(note(vchannel, seq)));
        } catch (error) {
          failures.push(error);
        }
      }
    });
    await waitFor(() => acked.size >= 200, 'appends acknowledged before the kill');
    await child.kill();
    childSession.leave();
    const ackedAtKill = acked.size;
    const node = await startNode({
      adapter: localAdapter({ directory }),
      catalog,
      listen: '127.0.0.1:0',
      nodeId: 222n,
      allocator: coordinator.tso,
    });
    const rpc = connectRpc(node.address);
    const session = coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
      address: node.address,
      nodeId: '222',
    });
    cleanup.push(async () => {
      rpc.close();
      await node.close();
      session.leave();
    });
    await waitFor(
      () => acked.size >= ackedAtKill + 100,
      '100 more appends acknowledged by the new owner',
      30_000,
    );
    stopping = true;
    await Promise.all(producers);
    expect(failures).toEqual([]);

    const log: ImmutableMessage[] = [];
    for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(20_000) })) {
      const seq = seqOf(message);
      if (seq !== undefined) log.push(message);
      if (log.length >= acked.size) break;
    }
    expect(log).toHaveLength(acked.size);
    expect(new Set(log.map(seqOf)).size, 'no append in the log twice').toBe(log.length);
    for (const message of log) {
      const result = acked.get(seqOf(message)!);
      expect(
        result && messageIdEquals(result.messageId, message.id),
        `${seqOf(message)} at its acknowledged id`,
      ).toBe(true);
      expect(result?.timeTick).toBe(message.timeTick);
    }
  }, 60_000);
});
