import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  defineMessageType,
  exclusiveResourceKey,
  MemoryCatalog,
  type MessageTypeDefinition,
  messageTypes,
  newMessage,
  ResourceDomain,
  vchannelName,
} from '@walstream/core';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { describe, expect, test } from 'vitest';
import { type Coordinator, InProcessNode, startCoordinator } from '../src/index.js';
import { within } from './support/cluster.js';

const Ddl: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('CoordTestEmbeddedDdl') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'CoordTestEmbeddedDdl', code: 2311, flags: {} });

async function nodesFor(
  coordinator: Coordinator,
  store: MemoryLogStore,
  count: number,
): Promise<InProcessNode[]> {
  const nodes: InProcessNode[] = [];
  for (let i = 0; i < count; i++) {
    const opener = await createWal({ catalog: new MemoryCatalog(), allocator: coordinator.tso })
      .adapter(memoryAdapter({ store }))
      .use(...walSemantics())
      .build();
    nodes.push(new InProcessNode(opener).join(coordinator.sessions));
  }
  return nodes;
}

describe('startCoordinator (embedded)', () => {
  test('assigns, broadcasts through the in-process owners, and continues with higher terms and timeticks after a restart', async () => {
    const catalog = new MemoryCatalog();
    const store = new MemoryLogStore();
    const pchannels = ['dml0', 'dml1', 'dml2', 'dml3'];
    const vchannels = pchannels.map((p) => vchannelName(p, 'c1'));

    const first = await startCoordinator({ catalog, pchannels, balancer: { minMoveIntervalMs: 0 } });
    const nodes = await nodesFor(first, store, 2);
    await first.balancer.idle(within());
    for (const v of vchannels) {
      const owner = first.balancer.layout.assignments.find((a) => v.startsWith(`${a.pchannel.name}_`));
      await nodes
        .find((n) => n.nodeId === owner?.nodeId)
        ?.wal(owner?.pchannel.name as string)
        .append(createVChannel(v));
    }
    const message = newMessage(Ddl)
      .broadcast(vchannels, [exclusiveResourceKey(ResourceDomain.CollectionName, 'db:c1')])
      .body(new Uint8Array([1]))
      .build();
    const { broadcastId, appends } = await first.broadcaster.broadcast(message, { signal: within() });
    expect(appends.size).toBe(4);
    const lastTick = await first.tso.allocate();
    await first.close();
    for (const node of nodes) await node.close();

    const second = await startCoordinator({ catalog, pchannels, balancer: { minMoveIntervalMs: 0 } });
    const fresh = await nodesFor(second, store, 2);
    await second.balancer.idle(within());
    expect(second.balancer.layout.assignments.map((a) => a.pchannel.term)).toEqual([2n, 2n, 2n, 2n]);
    expect(second.balancer.layout.assignments.every((a) => fresh.some((n) => n.nodeId === a.nodeId))).toBe(
      true,
    );
    expect((await second.tso.allocate()) > lastTick).toBe(true);
    expect(second.broadcaster.status()).toEqual([
      expect.objectContaining({ broadcastId, state: 'tombstone' }),
    ]);
    await second.close();
    for (const node of fresh) await node.close();
  });

  test('an unknown policy name fails NOT_REGISTERED, naming the registered ones', async () => {
    await expect(
      startCoordinator({ catalog: new MemoryCatalog(), pchannels: ['p'], policy: 'nope' }),
    ).rejects.toThrow(/"nope" is not registered \(registered: pchannelCount, vchannelFair\)/);
  });
});
