import {
  type AppendResult,
  type Catalog,
  DeliverPolicy,
  defineMessageType,
  exclusiveResourceKey,
  hasCode,
  type MessageTypeDefinition,
  type MutableMessage,
  messageTypes,
  newMessage,
  pchannelOfVChannel,
  ResourceDomain,
  sharedResourceKey,
  vchannelName,
  WalError,
} from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { afterEach, describe, expect, test } from 'vitest';
import {
  type AckContext,
  type BroadcastAppender,
  Broadcaster,
  type BroadcasterOptions,
} from '../src/index.js';
import { names, TestCluster, until, within } from './support/cluster.js';

const Ddl: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('CoordTestDdl') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'CoordTestDdl', code: 2301, flags: {} });
const Other: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('CoordTestOther') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'CoordTestOther', code: 2302, flags: {} });

let cluster: TestCluster;
const broadcasters: Broadcaster[] = [];
afterEach(async () => {
  for (const b of broadcasters.splice(0)) await b.close();
  await cluster?.close();
});

/** Two nodes, four pchannels, one vchannel created on each: vchannels on both nodes. */
async function setUp(): Promise<string[]> {
  cluster = new TestCluster();
  await cluster.addNode();
  await cluster.addNode();
  const balancer = await cluster.startCoordinator(names(4));
  await balancer.idle(within());
  const vchannels = names(4).map((p) => vchannelName(p, 'coll1'));
  for (const v of vchannels) await cluster.ownerWal(pchannelOfVChannel(v)).append(createVChannel(v));
  expect(new Set(names(4).map((p) => cluster.ownerOf(p))).size).toBe(2);
  return vchannels;
}

/** Appends through the owner of the vchannel's pchannel, as the layout names it now. */
class OwnerAppender implements BroadcastAppender {
  readonly counts = new Map<string, number>();
  failing = new Set<string>();
  async append(message: MutableMessage): Promise<AppendResult> {
    const vchannel = message.vchannel as string;
    if (this.failing.has(vchannel)) throw new WalError('UNAVAILABLE', 'injected');
    const result = await cluster.ownerWal(pchannelOfVChannel(vchannel)).append(message);
    this.counts.set(vchannel, (this.counts.get(vchannel) ?? 0) + 1);
    return result;
  }
}

async function open(
  appender: BroadcastAppender,
  options: Partial<BroadcasterOptions> = {},
  catalog: Catalog = cluster.catalog,
  ack: [MessageTypeDefinition<unknown>, (c: AckContext) => Promise<void>][] = [],
): Promise<Broadcaster> {
  const b = await Broadcaster.recover(
    { catalog, appender, ids: cluster.tso, backoff: { initialMs: 5, maxMs: 50 }, ...options },
    { ack },
  );
  broadcasters.push(b);
  return b;
}

function ddl(
  vchannels: readonly string[],
  keys = [exclusiveResourceKey(ResourceDomain.CollectionName, 'db:c1')],
  type = Ddl,
) {
  return newMessage(type).broadcast(vchannels, keys).body(new TextEncoder().encode('ddl')).build();
}

async function firstOn(vchannel: string) {
  const scanner = await cluster
    .ownerWal(pchannelOfVChannel(vchannel))
    .read({ vchannel, deliverPolicy: DeliverPolicy.all() });
  try {
    for await (const message of scanner) if (message.messageType === Ddl.code) return message;
  } finally {
    await scanner.close();
  }
  return undefined;
}

describe('Broadcaster', () => {
  test('appends one copy to each vchannel across nodes, acks them, runs the callback once, and keeps a tombstone', async () => {
    const vchannels = await setUp();
    const calls: AckContext[] = [];
    const broadcaster = await open(new OwnerAppender(), {}, cluster.catalog, [
      [Ddl, async (c) => void calls.push(c)],
    ]);
    const result = await broadcaster.broadcast(ddl(vchannels), { signal: within() });
    expect([...result.appends.keys()].sort()).toEqual(vchannels);
    expect(calls.length).toBe(1);
    expect(calls[0]?.broadcastId).toBe(result.broadcastId);
    for (const v of vchannels) {
      const message = await firstOn(v);
      expect(message?.broadcastHeader?.broadcastId).toBe(result.broadcastId);
      expect(message?.vchannel).toBe(v);
    }
    expect(broadcaster.status()).toEqual([
      expect.objectContaining({ broadcastId: result.broadcastId, state: 'tombstone', acked: vchannels }),
    ]);
    expect((await cluster.catalog.listBroadcastTasks()).map((t) => t.state)).toEqual(['tombstone']);
  });

  test('two exclusive broadcasts on one key run one after the other; shared holders of the key do not wait', async () => {
    const vchannels = await setUp();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const broadcaster = await open(new OwnerAppender(), {}, cluster.catalog, [
      [
        Ddl,
        async (c) => {
          order.push(`callback ${c.broadcastId}`);
          if (order.length === 1) await gate;
        },
      ],
    ]);
    const first = broadcaster.broadcast(ddl(vchannels));
    await until(() => order.length === 1);
    const second = broadcaster.broadcast(ddl(vchannels));
    const shared = [sharedResourceKey(ResourceDomain.DatabaseName, 'db')];
    // Another key, shared: goes through while the first holds db:c1.
    await broadcaster.broadcast(ddl(vchannels.slice(0, 1), shared, Other), { signal: within() });
    expect(order.length).toBe(1);
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(order).toEqual([`callback ${a.broadcastId}`, `callback ${b.broadcastId}`]);
    expect(b.broadcastId > a.broadcastId).toBe(true);
    const error = await (async () => {
      const held = await broadcaster.locks.lock([
        exclusiveResourceKey(ResourceDomain.CollectionName, 'db:c1'),
      ]);
      try {
        return await broadcaster.broadcast(ddl(vchannels), { tryLock: true }).catch((e: unknown) => e);
      } finally {
        held.release();
      }
    })();
    expect(hasCode(error, 'RESOURCE_ACQUIRED')).toBe(true);
  });

  test('a callback that always fails is dead-lettered after its bound, releases its keys, and later broadcasts go on', async () => {
    const vchannels = await setUp();
    let calls = 0;
    const broadcaster = await open(new OwnerAppender(), { maxCallbackAttempts: 3 }, cluster.catalog, [
      [
        Ddl,
        async () => {
          calls++;
          throw new Error('metadata store says no');
        },
      ],
    ]);
    const error = await broadcaster.broadcast(ddl(vchannels), { signal: within() }).catch((e: unknown) => e);
    expect(hasCode(error, 'UNRECOVERABLE')).toBe(true);
    expect(calls).toBe(3);
    const [dead] = broadcaster.status();
    expect(dead).toMatchObject({ state: 'dead-letter', attempts: 3, appended: vchannels });
    expect(dead?.error?.message).toMatch(/failed 3 time\(s\): .*metadata store says no/);
    // Same key, another type without a callback: not blocked by the dead letter.
    await broadcaster.broadcast(ddl(vchannels, undefined, Other), { signal: within() });
    // Parked across a restart, then retried with a callback that works.
    await broadcaster.close();
    broadcasters.length = 0;
    const ran: bigint[] = [];
    const again = await open(new OwnerAppender(), {}, cluster.catalog, [
      [Ddl, async (c) => void ran.push(c.broadcastId)],
    ]);
    expect(again.status().find((t) => t.broadcastId === dead?.broadcastId)?.state).toBe('dead-letter');
    await again.retryDeadLetter(dead?.broadcastId as bigint, within());
    expect(ran).toEqual([dead?.broadcastId]);
    expect(again.status().find((t) => t.broadcastId === dead?.broadcastId)?.state).toBe('tombstone');
  });

  test('a restarted broadcaster finishes a pending task, appending only the vchannels without a saved copy', async () => {
    const vchannels = await setUp();
    const appender = new OwnerAppender();
    appender.failing.add(vchannels[2] as string);
    const first = await open(appender);
    const pending = first.broadcast(ddl(vchannels)).catch((e: unknown) => e);
    await until(() => first.status()[0]?.appended.length === 3 && (first.status()[0]?.attempts ?? 0) > 1);
    await first.close();
    expect(hasCode(await pending, 'ON_SHUTDOWN')).toBe(true);
    const ran: AckContext[] = [];
    const healthy = new OwnerAppender();
    const second = await open(healthy, {}, cluster.catalog, [[Ddl, async (c) => void ran.push(c)]]);
    await until(() => second.status()[0]?.state === 'tombstone');
    expect([...healthy.counts]).toEqual([[vchannels[2], 1]]);
    expect(ran.length).toBe(1);
    expect([...(ran[0]?.appends.keys() ?? [])].sort()).toEqual(vchannels);
    // Its keys were taken again on recovery and released at the end.
    expect(second.locks.describe()).toEqual([]);
  });

  test('an append that can never succeed dead-letters the task at once', async () => {
    const vchannels = await setUp();
    const broadcaster = await open(new OwnerAppender());
    const missing = vchannelName('pch00', 'nope');
    const error = await broadcaster
      .broadcast(ddl([...vchannels, missing]), { signal: within() })
      .catch((e: unknown) => e);
    expect(hasCode(error, 'UNRECOVERABLE')).toBe(true);
    expect(broadcaster.status()[0]).toMatchObject({ state: 'dead-letter', appended: vchannels });
    expect(broadcaster.status()[0]?.error?.details.code).toBe('VCHANNEL_NOT_FOUND');
  });

  test('a failing check rejects the broadcast before anything is saved or appended', async () => {
    const vchannels = await setUp();
    const appender = new OwnerAppender();
    const broadcaster = await open(appender);
    broadcaster.onCheck(Ddl, async () => {
      throw new WalError('INVALID_ARGUMENT', 'no such collection');
    });
    const error = await broadcaster.broadcast(ddl(vchannels)).catch((e: unknown) => e);
    expect(hasCode(error, 'UNRECOVERABLE')).toBe(true);
    expect(appender.counts.size).toBe(0);
    expect(await cluster.catalog.listBroadcastTasks()).toEqual([]);
    expect(broadcaster.locks.describe()).toEqual([]);
  });

  test('a check that fails with a retriable error is called up to the bound, then the broadcast is rejected', async () => {
    const vchannels = await setUp();
    const broadcaster = await open(new OwnerAppender(), { maxCallbackAttempts: 4 });
    let calls = 0;
    broadcaster.onCheck(Ddl, async () => {
      calls++;
      throw new WalError('UNAVAILABLE', 'metadata store down');
    });
    const error = await broadcaster.broadcast(ddl(vchannels)).catch((e: unknown) => e);
    expect(hasCode(error, 'UNRECOVERABLE')).toBe(true);
    expect(calls).toBe(4);
    expect(broadcaster.status()).toEqual([]);
  });

  test('tasks$ shows a broadcast in its callback, then as a tombstone, never going back', async () => {
    const vchannels = await setUp();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const broadcaster = await open(new OwnerAppender(), {}, cluster.catalog, [[Ddl, () => gate]]);
    const states: string[] = [];
    broadcaster.tasks$.subscribe((tasks) => {
      const state = tasks[0]?.state;
      if (state && states.at(-1) !== state) states.push(state);
    });
    const done = broadcaster.broadcast(ddl(vchannels));
    await until(() => states.includes('callback'));
    release();
    await done;
    await until(() => states.includes('tombstone'));
    // Coalesced per event-loop turn: 'pending' shows only when the appends take longer than one turn.
    expect(states.filter((x) => x !== 'pending')).toEqual(['callback', 'tombstone']);
    expect(states.indexOf('pending')).toBeLessThanOrEqual(0);
  });

  test('tombstones past their lifetime are collected; a late ack of one is ignored', async () => {
    const vchannels = await setUp();
    let now = 1_000;
    const broadcaster = await open(new OwnerAppender(), { tombstoneTtlMs: 60_000, now: () => now });
    const { broadcastId } = await broadcaster.broadcast(ddl(vchannels), { signal: within() });
    await broadcaster.ack(broadcastId, vchannels[0] as string);
    expect(await broadcaster.gc()).toBe(0);
    now += 60_000;
    expect(await broadcaster.gc()).toBe(1);
    expect(await cluster.catalog.listBroadcastTasks()).toEqual([]);
    await broadcaster.ack(broadcastId, vchannels[0] as string);
    expect(broadcaster.status()).toEqual([]);
  });
});
