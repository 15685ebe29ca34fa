import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  defineMessageType,
  exclusiveResourceKey,
  hasCode,
  MemoryCatalog,
  type MessageTypeDefinition,
  messageTypes,
  newMessage,
  ResourceDomain,
  vchannelName,
} from '@walstream/core';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import {
  AckRequestSchema,
  AllocateRequestSchema,
  AssignmentDiscoverRequestSchema,
  BroadcastRequestSchema,
  connectRpc,
  create,
  type FullAssignment,
  ReportErrorRequestSchema,
  type RpcChannel,
  type RpcServer,
  toWireMessage,
  toWirePChannel,
} from '@walstream/rpc';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Coordinator, InProcessNode, serveCoordinator, startCoordinator } from '../src/index.js';
import { within } from './support/cluster.js';

const Ddl: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('CoordTestWireDdl') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'CoordTestWireDdl', code: 2321, flags: {} });

const pchannels = ['svc0', 'svc1', 'svc2'];
const store = new MemoryLogStore();
let coordinator: Coordinator;
let server: RpcServer;
let rpc: RpcChannel;
const nodes: InProcessNode[] = [];

async function addNode(): Promise<InProcessNode> {
  const opener = await createWal({ catalog: new MemoryCatalog(), allocator: coordinator.tso })
    .adapter(memoryAdapter({ store }))
    .use(...walSemantics())
    .build();
  const node = new InProcessNode(opener).join(coordinator.sessions);
  nodes.push(node);
  return node;
}

beforeAll(async () => {
  coordinator = await startCoordinator({
    catalog: new MemoryCatalog(),
    pchannels,
    policy: 'pchannelCount',
    balancer: { minMoveIntervalMs: 0 },
  });
  await addNode();
  await coordinator.balancer.idle(within());
  server = await serveCoordinator(coordinator, { listen: '127.0.0.1:0' });
  rpc = connectRpc(server.address);
});

afterAll(async () => {
  rpc?.close();
  await server?.close();
  await coordinator?.close();
  for (const node of nodes) await node.close();
});

function channelsOf(snapshot: FullAssignment): string[] {
  return snapshot.assignments
    .flatMap((a) => a.channels.map((c) => `${c.name}@${c.term} on ${a.node?.nodeId}`))
    .sort();
}

describe('the coordinator over gRPC', () => {
  test('AssignmentDiscover sends the current snapshot, then a newer one when a node joins and takes pchannels', async () => {
    const stream = rpc.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema, {}), {
      signal: within(),
    });
    const snapshots: FullAssignment[] = [];
    let joined: InProcessNode | undefined;
    for await (const response of stream) {
      const snapshot = response.fullAssignment as FullAssignment;
      snapshots.push(snapshot);
      if (snapshots.length === 1) {
        expect(channelsOf(snapshot)).toEqual(['svc0@1 on 1', 'svc1@1 on 1', 'svc2@1 on 1']);
        joined = await addNode();
      } else if (
        snapshot.assignments.some((a) => String(a.node?.nodeId) === joined?.nodeId && a.channels.length === 1)
      ) {
        break;
      }
    }
    stream.cancel();
    for (let i = 1; i < snapshots.length; i++) {
      const [a, b] = [snapshots[i - 1]?.version, snapshots[i]?.version];
      expect(a?.global).toBe(b?.global);
      expect((b?.local ?? 0n) > (a?.local ?? 0n)).toBe(true);
    }
  });

  test('ReportError at the current term reassigns the pchannel at a new term', async () => {
    await coordinator.balancer.idle(within());
    const before = coordinator.channels.get('svc0').channel;
    await rpc.assignment.reportError(create(ReportErrorRequestSchema, { pchannel: toWirePChannel(before) }));
    await coordinator.balancer.idle(within());
    expect(coordinator.channels.get('svc0').channel.term).toBe(before.term + 1n);
  });

  test('Broadcast appends to every vchannel and answers with each copy; Ack of it is accepted', async () => {
    await coordinator.balancer.idle(within());
    const vchannels = pchannels.map((p) => vchannelName(p, 'c9'));
    for (const v of vchannels) {
      const meta = coordinator.channels.get(v.slice(0, v.lastIndexOf('_')));
      await nodes
        .find((n) => n.nodeId === meta.nodeId)
        ?.wal(meta.channel.name)
        .append(createVChannel(v));
    }
    const message = newMessage(Ddl)
      .broadcast(vchannels, [exclusiveResourceKey(ResourceDomain.CollectionName, 'db:c9')])
      .body(new Uint8Array([7]))
      .build();
    const response = await rpc.broadcast.broadcast(
      create(BroadcastRequestSchema, { message: toWireMessage(message) }),
    );
    expect(Object.keys(response.results).sort()).toEqual(vchannels);
    expect(Object.values(response.results).every((r) => r.id?.walName === 'memory' && r.timeTick > 0n)).toBe(
      true,
    );
    await rpc.broadcast.ack(
      create(AckRequestSchema, { broadcastId: response.broadcastId, vchannel: vchannels[0] as string }),
    );
    expect(coordinator.broadcaster.status().find((t) => t.broadcastId === response.broadcastId)?.state).toBe(
      'tombstone',
    );
  });

  test('Allocate hands out consecutive batches above each other; a count of 0 is INVALID_ARGUMENT', async () => {
    const first = await rpc.tso.allocate(create(AllocateRequestSchema, { count: 100 }));
    const second = await rpc.tso.allocate(create(AllocateRequestSchema, { count: 1 }));
    expect(first.count).toBe(100);
    expect(second.first > first.first + 99n).toBe(true);
    const error = await rpc.tso
      .allocate(create(AllocateRequestSchema, { count: 0 }))
      .catch((e: unknown) => e);
    expect(hasCode(error, 'INVALID_ARGUMENT')).toBe(true);
  });
});
