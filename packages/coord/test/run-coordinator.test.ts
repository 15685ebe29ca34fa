/**
 * The coordinator as a service on a real etcd: runCoordinator's election and serving, node registration
 * (registerNode around a real StreamingNode) and freeze/drain marks kept across coordinators.
 */
import { randomBytes } from 'node:crypto';
import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import { createEtcdClient } from '@walstream/catalog-etcd';
import { createWal, hasCode, MemoryCatalog, WalError } from '@walstream/core';
import { walSemantics } from '@walstream/interceptors';
import { startNode } from '@walstream/node';
import { AllocateRequestSchema, connectRpc, create } from '@walstream/rpc';
import { type EtcdServer, startEtcd } from '@walstream/testkit/etcd';
import type { Etcd3 } from 'etcd3';
import { firstValueFrom } from 'rxjs';
import { filter } from 'rxjs/operators';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CoordinatorTso,
  EtcdSessionDirectory,
  etcdNodeMarks,
  InProcessNode,
  InProcessSessions,
  type NodeMarks,
  registerNode,
  runCoordinator,
  startCoordinator,
} from '../src/index.js';
import { within } from './support/cluster.js';
import { etcdRelay } from './support/etcd-relay.js';

let etcd: EtcdServer;
const clients: Etcd3[] = [];
beforeAll(async () => {
  etcd = await startEtcd();
}, 180_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await etcd?.stop();
});

function client(): Etcd3 {
  const c = createEtcdClient({ endpoints: [...etcd.endpoints] });
  clients.push(c);
  return c;
}
const freshPrefix = () => `run-test/${randomBytes(6).toString('hex')}/`;

describe('runCoordinator', () => {
  test('one of two is active and serves; the standby serves nothing until the active one closes, then takes over with a higher TSO', async () => {
    const prefix = freshPrefix();
    const options = { etcd: { endpoints: etcd.endpoints }, prefix, pchannels: ['r0'], sessionTtlSeconds: 2 };
    const a = await runCoordinator({ ...options, listen: '127.0.0.1:0', candidate: 'a' });
    const activeA = await a.whenActive(within());
    const b = await runCoordinator({ ...options, listen: '127.0.0.1:0', candidate: 'b' });
    expect(b.role).toBe('standby');
    expect(b.active).toBeUndefined();

    const rpcA = connectRpc(activeA.server.address);
    const first = await rpcA.tso.allocate(create(AllocateRequestSchema, { count: 1 }));
    rpcA.close();
    await a.close();
    expect(a.role).toBe('closed');
    const activeB = await b.whenActive(within());
    const rpcB = connectRpc(activeB.server.address);
    const second = await rpcB.tso.allocate(create(AllocateRequestSchema, { count: 1 }));
    rpcB.close();
    expect(second.first).toBeGreaterThan(first.first);
    await b.close();
  });

  test('the active one cut off from etcd has closed its server before the standby is elected; the standby then serves', async () => {
    const prefix = freshPrefix();
    const link = await etcdRelay(etcd.endpoints[0] as string);
    const options = { prefix, pchannels: ['c0'], sessionTtlSeconds: 2, listen: '127.0.0.1:0' };
    const a = await runCoordinator({ ...options, etcd: { endpoints: [link.endpoint] }, candidate: 'a' });
    const addressA = (await a.whenActive(within())).server.address;
    const b = await runCoordinator({ ...options, etcd: { endpoints: etcd.endpoints }, candidate: 'b' });
    let aStoodDown: number | undefined;
    a.role$.subscribe((role) => {
      if (role !== 'active') aStoodDown ??= performance.now();
    });
    const cutAt = performance.now();
    link.cut();
    await b.whenActive(within());
    const bActive = performance.now();
    expect(aStoodDown).toBeDefined();
    expect(aStoodDown!).toBeLessThan(bActive);
    expect(a.active).toBeUndefined();
    // A's port no longer answers: a caller moves on to the next coordinator address.
    const rpc = connectRpc(addressA);
    const refused = await rpc.tso
      .allocate(create(AllocateRequestSchema, { count: 1 }), { signal: AbortSignal.timeout(2_000) })
      .catch((e: unknown) => e);
    rpc.close();
    expect(refused).toBeInstanceOf(WalError);
    process.stderr.write(
      `cut → A stood down ${(aStoodDown! - cutAt).toFixed(0)} ms, B active ${(bActive - cutAt).toFixed(0)} ms\n`,
    );
    await b.close();
    await a.close();
    await link.close();
  }, 30_000);

  test('bad options are INVALID_ARGUMENT, not retriable, naming the option', async () => {
    const base = { etcd: { endpoints: etcd.endpoints }, listen: '127.0.0.1:0', pchannels: ['x'] };
    for (const [option, bad] of [
      ['pchannels', { ...base, pchannels: [] }],
      ['listen', { ...base, listen: undefined }],
      ['etcd', { ...base, etcd: 'http://127.0.0.1:2379' }],
      ['sessionTtlSeconds', { ...base, sessionTtlSeconds: 0 }],
    ] as const) {
      const error = await runCoordinator(bad as never).catch((e: unknown) => e);
      expect(hasCode(error, 'INVALID_ARGUMENT'), option).toBe(true);
      expect((error as WalError).retriable).toBe(false);
      expect((error as WalError).message).toContain(option);
    }
  });
});

describe('CoordinatorTso', () => {
  test('timeticks from the active coordinator (found by its published address) rise across a failover; with none active an allocation waits for the next one; a barrier holds', async () => {
    const prefix = freshPrefix();
    const options = { etcd: { endpoints: etcd.endpoints }, prefix, pchannels: ['t0'], sessionTtlSeconds: 2 };
    const a = await runCoordinator({ ...options, listen: '127.0.0.1:0', candidate: 'a' });
    const activeA = await a.whenActive(within());
    expect(await client().get(`${prefix}coordinator/address`).string()).toBe(activeA.server.address);
    const tso = new CoordinatorTso({ client: client(), prefix, batch: 4 });
    const ticks: bigint[] = [];
    for (let i = 0; i < 10; i++) ticks.push(await tso.allocate());

    await a.close();
    tso.sync();
    let resolvedAt: number | undefined;
    const waiting = tso.allocate().then((tick) => {
      resolvedAt = performance.now();
      return tick;
    });
    const b = await runCoordinator({ ...options, listen: '127.0.0.1:0', candidate: 'b' });
    await b.whenActive(within());
    const activeAt = performance.now();
    ticks.push(await waiting);
    expect(resolvedAt).toBeGreaterThanOrEqual(activeAt);
    for (let i = 0; i < 5; i++) ticks.push(await tso.allocate());
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]!).toBeGreaterThan(ticks[i - 1]!);

    const barrier = ticks.at(-1)! + (20n << 18n); // 20 ms ahead
    await tso.barrierUntil(barrier);
    expect(await tso.allocate()).toBeGreaterThanOrEqual(barrier);
    tso.close();
    await b.close();
  });
});

describe('registerNode', () => {
  test('a StreamingNode registers with an id from the counter and its address; a graceful stop shows it stopping, waits while it holds WALs, closes it, then ends the session; the next registration gets a new id and can advertise another address', async () => {
    const prefix = freshPrefix();
    const directory = await EtcdSessionDirectory.open({ client: client(), prefix });
    const closedAt: { stopping?: number; closed?: number } = {};
    const registration = await registerNode({
      client: client(),
      prefix,
      ttlSeconds: 2,
      // Holds its WALs until the coordinator's view shows it stopping (as a node whose pchannels move away).
      holdsWals: () => closedAt.stopping === undefined,
      start: async (nodeId) => {
        const node = await startNode({
          adapter: memoryAdapter(),
          catalog: new MemoryCatalog(),
          listen: '127.0.0.1:0',
          nodeId,
        });
        return {
          address: node.address,
          close: async () => {
            closedAt.closed = performance.now();
            await node.close();
          },
        };
      },
    });
    const seen = await firstValueFrom(
      directory.sessions$.pipe(filter((s) => s.some((n) => n.nodeId === String(registration.nodeId)))),
    );
    expect(seen.find((n) => n.nodeId === String(registration.nodeId))?.address).toBe(
      registration.node.address,
    );
    const stopping = firstValueFrom(
      directory.sessions$.pipe(
        filter((s) => s.some((n) => n.nodeId === String(registration.nodeId) && n.stopping)),
      ),
    ).then(() => {
      closedAt.stopping = performance.now();
    });
    const gone = firstValueFrom(
      directory.sessions$.pipe(filter((s) => !s.some((n) => n.nodeId === String(registration.nodeId)))),
    );
    await registration.stop();
    await stopping;
    await gone;
    await registration.closed;
    expect(closedAt.stopping).toBeLessThan(closedAt.closed ?? 0);
    // The next registration gets a new id.
    const again = await registerNode({
      client: client(),
      prefix,
      // Listening on every interface, reached at another address.
      advertise: '10.1.2.3:7801',
      start: async () => ({ address: '0.0.0.0:7801', close: async () => {} }),
    });
    expect(again.nodeId).toBeGreaterThan(registration.nodeId);
    const advertised = await firstValueFrom(
      directory.sessions$.pipe(filter((s) => s.some((n) => n.nodeId === String(again.nodeId)))),
    );
    expect(advertised.find((n) => n.nodeId === String(again.nodeId))?.address).toBe('10.1.2.3:7801');
    await again.stop();
    await directory.close();
  });
});

test('registerNode: a node cut off from etcd is closed once its session is lost (it stops serving)', async () => {
  const link = await etcdRelay(etcd.endpoints[0] as string);
  const cutOff = createEtcdClient({ endpoints: [link.endpoint] });
  let closes = 0;
  const registration = await registerNode({
    client: cutOff,
    prefix: freshPrefix(),
    ttlSeconds: 2,
    start: async () => ({
      address: '127.0.0.1:1',
      close: async () => {
        closes++;
      },
    }),
  });
  const cutAt = performance.now();
  link.cut();
  await registration.closed;
  const after = performance.now() - cutAt;
  expect(registration.session.signal.aborted).toBe(true);
  expect(hasCode(registration.session.signal.reason, 'UNAVAILABLE')).toBe(true);
  expect(closes).toBe(1);
  // The local end is at most the TTL after the cut (its last acknowledged keepalive was sent before it);
  // the margin is for timers late on a loaded machine.
  expect(after).toBeLessThan(2_000 + 1_000);
  cutOff.close();
  await link.close();
}, 20_000);

describe('freeze and drain marks', () => {
  test('kept in etcd: a coordinator started after the one that froze and drained finds both marks on the live nodes', async () => {
    const marks = etcdNodeMarks({ client: client(), prefix: freshPrefix() });
    const catalog = new MemoryCatalog();
    const store = new MemoryLogStore();
    const sessions = new InProcessSessions();
    const nodes: InProcessNode[] = [];
    for (let i = 0; i < 3; i++) {
      const opener = await createWal({ catalog })
        .adapter(memoryAdapter({ store }))
        .use(...walSemantics())
        .build();
      nodes.push(new InProcessNode(opener).join(sessions));
    }
    const pchannels = ['m0', 'm1', 'm2', 'm3'];
    const first = await startCoordinator({ catalog, pchannels, sessions, marks, policy: 'pchannelCount' });
    await first.balancer.idle(within());
    await first.balancer.freeze(nodes[0]!.nodeId);
    await first.balancer.drain(nodes[1]!.nodeId, within());
    await first.close();
    expect(await marks.load()).toEqual({ frozen: [nodes[0]!.nodeId], draining: [nodes[1]!.nodeId] });

    const second = await startCoordinator({ catalog, pchannels, sessions, marks, policy: 'pchannelCount' });
    const view = await firstValueFrom(second.nodes$.pipe(filter((n) => n.length === 3)));
    expect(view.map((n) => [n.nodeId, n.frozen, n.draining])).toEqual([
      [nodes[0]!.nodeId, true, false],
      [nodes[1]!.nodeId, false, true],
      [nodes[2]!.nodeId, false, false],
    ]);
    await second.balancer.unfreeze(nodes[0]!.nodeId);
    expect((await marks.load()).frozen).toEqual([]);
    await second.close();
    for (const node of nodes) await node.close();
  });

  test('a refused save leaves the mark unset and rejects the freeze', async () => {
    const saved: NodeMarks[] = [];
    const sessions = new InProcessSessions();
    const opener = await createWal({ catalog: new MemoryCatalog() })
      .adapter(memoryAdapter())
      .use(...walSemantics())
      .build();
    const node = new InProcessNode(opener).join(sessions);
    let refuse = true;
    const coordinator = await startCoordinator({
      catalog: new MemoryCatalog(),
      pchannels: ['f0'],
      sessions,
      marks: {
        load: async () => ({ frozen: [], draining: [] }),
        save: async (m) => {
          if (refuse) throw new WalError('UNAVAILABLE', 'etcd is away');
          saved.push(m);
        },
      },
    });
    const error = await coordinator.balancer.freeze(node.nodeId).catch((e: unknown) => e);
    expect(hasCode(error, 'UNAVAILABLE')).toBe(true);
    const view = await firstValueFrom(coordinator.nodes$);
    expect(view.find((n) => n.nodeId === node.nodeId)?.frozen).toBe(false);
    refuse = false;
    await coordinator.balancer.freeze(node.nodeId);
    expect(saved).toEqual([{ frozen: [node.nodeId], draining: [] }]);
    await coordinator.close();
    await node.close();
  });
});
