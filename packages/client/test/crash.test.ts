/**
 * A node process SIGKILLed under a running producer and consumer: the client follows the coordinator to
 * the node that replaces it. The dead node is a child process on the local adapter; the new owner, in this
 * process, opens the same directory once the kill released its lock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Registers the `local` MessageID codec, so ids from the nodes' store decode here.
import { localAdapter } from '@walstream/adapter-local';
import {
  type Coordinator,
  type InProcessSessionHandle,
  RpcNodeManagerClient,
  serveCoordinator,
  startCoordinator,
} from '@walstream/coord';
import {
  type BackgroundErrorEvent,
  type ImmutableMessage,
  MemoryCatalog,
  messageIdEquals,
  vchannelName,
} from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { type StreamingNode, startNode } from '@walstream/node';
import { connectRpc, type RpcChannel, type RpcServer, type WireAppendResult } from '@walstream/rpc';
import { afterEach, describe, expect, test } from 'vitest';
import { type NodeChild, spawnNode } from '../../node/test/support/spawn-node.js';
import { type Client, createClient } from '../src/index.js';
import { note, seqOf, waitFor } from './support/cluster.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('a node process killed under load', () => {
  test('SIGKILL of the owner: every acknowledged append is read, in timetick order, no message delivered twice, after the move to the new node', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'walstream-client-kill-'));
    cleanup.push(() => rmSync(directory, { recursive: true, force: true }));
    const catalog = new MemoryCatalog();
    const coordinator: Coordinator = await startCoordinator({
      catalog,
      pchannels: ['clx0'],
      policy: 'pchannelCount',
      balancer: { minMoveIntervalMs: 0, operationTimeoutMs: 5_000, backoff: { initialMs: 10, maxMs: 200 } },
    });
    cleanup.push(() => coordinator.close());
    const child: NodeChild = await spawnNode({ adapter: 'local', directory, nodeId: '201' });
    cleanup.push(() => child.kill());
    const childRpc: RpcChannel = connectRpc(child.address);
    cleanup.push(() => childRpc.close());
    const childSession: InProcessSessionHandle = coordinator.sessions.join(
      new RpcNodeManagerClient(childRpc),
      {
        address: child.address,
        nodeId: '201',
      },
    );
    await coordinator.balancer.idle(AbortSignal.timeout(20_000));
    const server: RpcServer = await serveCoordinator(coordinator, { listen: '127.0.0.1:0' });
    cleanup.push(() => server.close({ graceMs: 0 }));
    const retried: BackgroundErrorEvent[] = [];
    const client: Client = createClient({
      coord: server.address,
      backoff: { initialMs: 10, maxMs: 200 },
      onError: (event) => retried.push(event),
    });
    cleanup.push(() => client.close());

    const vchannel = vchannelName('clx0', 'v0');
    await client.append(createVChannel(vchannel));
    const acked = new Map<number, WireAppendResult>();
    const failures: unknown[] = [];
    const seen: ImmutableMessage[] = [];
    const seenSeqs = new Set<number>();
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
    const stopReading = new AbortController();
    const consumer = (async () => {
      try {
        for await (const message of client.read(vchannel, { signal: stopReading.signal })) {
          const seq = seqOf(message);
          if (seq === undefined) continue;
          seen.push(message);
          seenSeqs.add(seq);
        }
      } catch (error) {
        if (!stopReading.signal.aborted) throw error;
      }
    })();
    await waitFor(
      () => acked.size >= 100 && seen.length >= 50,
      'appends acknowledged and read before the kill',
    );

    await child.kill();
    childSession.leave();
    const ackedAtKill = acked.size;
    // The replacement opens the directory the dead process held; the coordinator moves the pchannel to it.
    const node: StreamingNode = await startNode({
      adapter: localAdapter({ directory }),
      catalog,
      listen: '127.0.0.1:0',
      nodeId: 202n,
      allocator: coordinator.tso,
    });
    const rpc = connectRpc(node.address);
    const session = coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
      address: node.address,
      nodeId: '202',
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
    await waitFor(
      () => [...acked.keys()].every((seq) => seenSeqs.has(seq)),
      'the consumer to see every acknowledged append',
    );
    stopReading.abort();
    await consumer;

    expect(failures).toEqual([]);
    expect(client.assignment?.channels.get('clx0')?.nodeId).toBe(202n);
    for (const [seq, result] of acked) {
      const read = seen.filter((m) => seqOf(m) === seq);
      expect(
        read.some((m) => messageIdEquals(m.id, result.messageId)),
        `${seq} read at its acknowledged id`,
      ).toBe(true);
    }
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.timeTick > seen[i - 1]!.timeTick, `timeticks rise at ${i}`).toBe(true);
    }
    expect(new Set(seen.map((m) => m.id.marshal())).size).toBe(seen.length);
    // The consumer saw exactly what the log holds: a fresh read from the start gives the same ids.
    const fresh: ImmutableMessage[] = [];
    for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(20_000) })) {
      if (seqOf(message) !== undefined) fresh.push(message);
      if (fresh.length >= seen.length) break;
    }
    expect(fresh.map((m) => m.id.marshal())).toEqual(seen.map((m) => m.id.marshal()));
    // At least once: an append in flight at the kill is sent again, and its first try may have landed
    // unacknowledged. Four producers have at most four appends in flight.
    const duplicated = seen.length - new Set(seen.map(seqOf)).size;
    expect(duplicated).toBeLessThanOrEqual(4);
    const components = new Set(retried.map((e) => e.component));
    expect(components.has('client.producer') && components.has('client.consumer')).toBe(true);
  }, 90_000);
});
