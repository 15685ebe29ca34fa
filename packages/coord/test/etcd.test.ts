/**
 * The coordinator on a real etcd (Debian's etcd-server, started for this file): TSO restarts, two
 * coordinators writing the same pchannel, and a full coordinator restart with broadcasts in flight.
 */
import { randomBytes } from 'node:crypto';
import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import { EtcdCatalog } from '@walstream/catalog-etcd';
import {
  type AppendResult,
  createWal,
  defineMessageType,
  exclusiveResourceKey,
  hasCode,
  MemoryCatalog,
  type MessageTypeDefinition,
  type MutableMessage,
  messageTypes,
  newMessage,
  pchannelOfVChannel,
  ResourceDomain,
  vchannelName,
  WalError,
} from '@walstream/core';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { type EtcdServer, startEtcd } from '@walstream/testkit/etcd';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ChannelManager, type Coordinator, InProcessNode, startCoordinator, Tso } from '../src/index.js';
import { until, within } from './support/cluster.js';

const Ddl: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('CoordTestEtcdDdl') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'CoordTestEtcdDdl', code: 2331, flags: {} });

let etcd: EtcdServer;
const catalogs: EtcdCatalog[] = [];
beforeAll(async () => {
  etcd = await startEtcd();
}, 180_000);
afterAll(async () => {
  for (const c of catalogs) await c.close();
  await etcd?.stop();
});

/** A catalog client of its own, as a new coordinator process would have. */
function catalogAt(prefix: string): EtcdCatalog {
  const catalog = new EtcdCatalog({ endpoints: [...etcd.endpoints], prefix });
  catalogs.push(catalog);
  return catalog;
}
const freshPrefix = () => `coord-test/${randomBytes(6).toString('hex')}/`;

describe('coordinator on etcd', () => {
  test('TSO: 10 restarts, each a new catalog client with the clock set back 10 s, hand out strictly increasing timeticks', async () => {
    const prefix = freshPrefix();
    let clock = Date.now();
    let last = -1n;
    let count = 0;
    for (let restart = 0; restart <= 10; restart++) {
      clock -= 10_000;
      const tso = new Tso({ catalog: catalogAt(prefix), now: () => clock });
      for (let i = 0; i < 200; i++) {
        const value = await tso.allocate();
        expect(value > last, `restart ${restart}, allocation ${i}`).toBe(true);
        last = value;
        count++;
      }
    }
    expect(count).toBe(2_200);
  });

  test('two coordinators that both believe they are active: the second save of one pchannel is CHANNEL_FENCED, one owner stays', async () => {
    const prefix = freshPrefix();
    const a = await ChannelManager.recover({
      catalog: catalogAt(prefix),
      pchannels: ['p0'],
      incarnation: 1n,
    });
    const b = await ChannelManager.recover({
      catalog: catalogAt(prefix),
      pchannels: ['p0'],
      incarnation: 2n,
    });
    await a.assign('p0', '1');
    const error = await b.assign('p0', '2').catch((e: unknown) => e);
    expect(hasCode(error, 'CHANNEL_FENCED')).toBe(true);
    expect(b.get('p0').state).toBe('uninitialized');
    const stored = await catalogAt(prefix).listPChannels();
    expect(stored.map((m) => [m.channel.name, m.nodeId, m.channel.term, m.state])).toEqual([
      ['p0', '1', 1n, 'assigning'],
    ]);
    // A coordinator started after both reads what the winner wrote and goes on from there.
    const c = await ChannelManager.recover({
      catalog: catalogAt(prefix),
      pchannels: ['p0'],
      incarnation: 3n,
    });
    expect((await c.assign('p0', '2')).channel.term).toBe(2n);
  });

  test('a coordinator restarted on etcd finishes a broadcast it left pending and moves every pchannel to the new nodes at a new term', async () => {
    const prefix = freshPrefix();
    const store = new MemoryLogStore();
    const pchannels = ['etcd0', 'etcd1'];
    const vchannels = pchannels.map((p) => vchannelName(p, 'c1'));
    const nodes: InProcessNode[] = [];
    const addNodes = async (coordinator: Coordinator) => {
      for (let i = 0; i < 2; i++) {
        const opener = await createWal({ catalog: new MemoryCatalog(), allocator: coordinator.tso })
          .adapter(memoryAdapter({ store }))
          .use(...walSemantics())
          .build();
        nodes.push(new InProcessNode(opener).join(coordinator.sessions));
      }
    };
    // The coordinator is undefined while startCoordinator resumes the pending broadcast: "no owner yet".
    const ownerAppend = (coordinator: Coordinator | undefined, blocked: Set<string>) => ({
      async append(message: MutableMessage): Promise<AppendResult> {
        if (!coordinator) throw new WalError('UNAVAILABLE', 'the coordinator is still starting');
        const vchannel = message.vchannel as string;
        if (blocked.has(vchannel)) throw new WalError('UNAVAILABLE', 'injected');
        const meta = coordinator.channels.get(pchannelOfVChannel(vchannel));
        const node = nodes.find((n) => n.nodeId === meta.nodeId);
        if (!node || meta.state !== 'assigned') throw new WalError('CHANNEL_NOT_EXIST', 'no owner yet');
        return node.wal(meta.channel.name).append(message);
      },
    });

    const blocked = new Set([vchannels[1] as string]);
    let first!: Coordinator;
    first = await startCoordinator({
      catalog: catalogAt(prefix),
      pchannels,
      balancer: { minMoveIntervalMs: 0 },
      appender: { append: (m) => ownerAppend(first, blocked).append(m) },
    });
    await addNodes(first);
    await first.balancer.idle(within());
    for (const v of vchannels) {
      const meta = first.channels.get(pchannelOfVChannel(v));
      await nodes
        .find((n) => n.nodeId === meta.nodeId)
        ?.wal(meta.channel.name)
        .append(createVChannel(v));
    }
    const message = newMessage(Ddl)
      .broadcast(vchannels, [exclusiveResourceKey(ResourceDomain.CollectionName, 'db:c1')])
      .body(new Uint8Array([1]))
      .build();
    const pending = first.broadcaster.broadcast(message).catch((e: unknown) => e);
    await until(() => first.broadcaster.status()[0]?.appended.length === 1);
    await first.close();
    expect(hasCode(await pending, 'ON_SHUTDOWN')).toBe(true);
    for (const node of nodes.splice(0)) await node.close();

    const acked: bigint[] = [];
    let second!: Coordinator;
    second = await startCoordinator({
      catalog: catalogAt(prefix),
      pchannels,
      balancer: { minMoveIntervalMs: 0 },
      appender: { append: (m) => ownerAppend(second, new Set()).append(m) },
      broadcaster: { backoff: { initialMs: 10, maxMs: 100 } },
    });
    second.broadcaster.onAck(Ddl, async (c) => void acked.push(c.broadcastId));
    await addNodes(second);
    await second.balancer.idle(within());
    expect(pchannels.map((p) => second.channels.get(p).channel.term)).toEqual([2n, 2n]);
    await until(() => second.broadcaster.status()[0]?.state === 'tombstone');
    expect(second.broadcaster.status()[0]?.appended).toEqual(vchannels);
    expect(acked.length).toBe(1);
    await second.close();
    for (const node of nodes.splice(0)) await node.close();
  }, 60_000);
});
