import { hasCode, type PChannelMeta, WalError } from '@walstream/core';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { createEtcdClient, EtcdCatalog } from '../src/index.js';
import { endpoints, freshCatalog, freshPrefix } from './helpers.js';

const opened: EtcdCatalog[] = [];
afterAll(async () => {
  await Promise.all(opened.map((catalog) => catalog.close()));
});
function catalogOn(prefix: string): EtcdCatalog {
  const catalog = new EtcdCatalog({ endpoints: endpoints(), prefix });
  opened.push(catalog);
  return catalog;
}

const meta = (name: string, term: bigint, nodeId: string): PChannelMeta => ({
  channel: { name, term, accessMode: 'rw' },
  state: 'assigning',
  nodeId,
  history: [],
});

async function rejection(promise: Promise<unknown>): Promise<WalError> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection, but it resolved');
}

describe('EtcdCatalog pchannel metas: two coordinators cannot both win', () => {
  test('of two catalogs that listed the same state, the second save is refused CHANNEL_FENCED and the first one stays', async () => {
    const prefix = freshPrefix('coord');
    const [a, b] = [catalogOn(prefix), catalogOn(prefix)];
    await a.savePChannels([meta('p1', 1n, 'n1'), meta('p2', 1n, 'n1')]);
    await a.listPChannels();
    await b.listPChannels();
    await a.savePChannels([meta('p1', 2n, 'n2')]);
    const refused = await rejection(b.savePChannels([meta('p1', 2n, 'n3'), meta('p2', 2n, 'n3')]));
    expect(refused.code).toBe('CHANNEL_FENCED');
    expect(refused.retriable).toBe(false);
    expect(refused.details.pchannel).toBe('p1');
    // Nothing of the refused save landed, not even p2, which only b changed.
    expect(await catalogOn(prefix).listPChannels()).toEqual([meta('p1', 2n, 'n2'), meta('p2', 1n, 'n1')]);
  });

  test('a refused catalog that lists again saves on the state it now knows', async () => {
    const prefix = freshPrefix('coord');
    const [a, b] = [catalogOn(prefix), catalogOn(prefix)];
    await a.savePChannels([meta('p1', 1n, 'n1')]);
    await b.listPChannels();
    await a.savePChannels([meta('p1', 2n, 'n2')]);
    expect(hasCode(await rejection(b.savePChannels([meta('p1', 2n, 'n3')])), 'CHANNEL_FENCED')).toBe(true);
    await b.listPChannels();
    await b.savePChannels([meta('p1', 3n, 'n3')]);
    expect(await a.listPChannels()).toEqual([meta('p1', 3n, 'n3')]);
  });

  test("one catalog's saves of the same pchannel made at once all land, the last call's meta stored", async () => {
    const prefix = freshPrefix('coord');
    const catalog = catalogOn(prefix);
    await Promise.all([1n, 2n, 3n, 4n].map((term) => catalog.savePChannels([meta('p1', term, `n${term}`)])));
    expect(await catalogOn(prefix).listPChannels()).toEqual([meta('p1', 4n, 'n4')]);
  });

  test('creating a pchannel another catalog created meanwhile is refused', async () => {
    const prefix = freshPrefix('coord');
    const [a, b] = [catalogOn(prefix), catalogOn(prefix)];
    await a.savePChannels([meta('p1', 1n, 'n1')]);
    expect((await rejection(b.savePChannels([meta('p1', 1n, 'n2')]))).code).toBe('CHANNEL_FENCED');
  });

  test('a save whose records etcd already holds byte for byte resolves (what a retry after a lost answer meets)', async () => {
    const prefix = freshPrefix('coord');
    const [a, b] = [catalogOn(prefix), catalogOn(prefix)];
    await a.savePChannels([meta('p1', 1n, 'n1')]);
    await b.savePChannels([meta('p1', 1n, 'n1')]);
    // b now knows the revision: its next save lands.
    await b.savePChannels([meta('p1', 2n, 'n1')]);
    expect(await a.listPChannels()).toEqual([meta('p1', 2n, 'n1')]);
  });

  test('coordinators saving at once on the same listed state: exactly one wins and its metas are stored', async () => {
    const seen = { 'three or more racing': 0 };
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.array(fc.constantFrom('p1', 'p2', 'p3'), { minLength: 1, maxLength: 3 }),
        async (coordinators, names) => {
          const prefix = freshPrefix(`race-${++round}`);
          const catalogs = Array.from({ length: coordinators }, () => catalogOn(prefix));
          await catalogs[0]!.savePChannels(['p1', 'p2', 'p3'].map((n) => meta(n, 1n, 'n0')));
          for (const catalog of catalogs) await catalog.listPChannels();
          const outcomes = await Promise.allSettled(
            catalogs.map((catalog, i) => catalog.savePChannels(names.map((n) => meta(n, 2n, `n${i + 1}`)))),
          );
          const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
          expect(winners).toHaveLength(1);
          for (const outcome of outcomes) {
            if (outcome.status === 'rejected') expect(hasCode(outcome.reason, 'CHANNEL_FENCED')).toBe(true);
          }
          const stored = await catalogOn(prefix).listPChannels();
          for (const m of stored) {
            const expected = (names as string[]).includes(m.channel.name) ? `n${winners[0]! + 1}` : 'n0';
            expect(m.nodeId).toBe(expected);
          }
          if (coordinators >= 3) seen['three or more racing']++;
        },
      ),
      { numRuns: 15 },
    );
    expect(seen['three or more racing']).toBeGreaterThan(0);
  });
});

describe('EtcdCatalog values', () => {
  test('a checkpoint is stored as the documented JSON: bigints as decimal strings, added fields under extra', async () => {
    const catalog = freshCatalog();
    opened.push(catalog);
    await catalog.saveCheckpoint('p1', {
      messageId: '42',
      walName: 'kafka',
      timeTick: 2n ** 63n,
      term: 3n,
      semanticsState: '{}',
    } as never);
    const raw = await catalog.client.get(`${catalog.prefix}checkpoints/p1`).string();
    expect(JSON.parse(raw ?? 'null')).toEqual({
      format: 1,
      messageId: '42',
      walName: 'kafka',
      timeTick: '9223372036854775808',
      term: '3',
      extra: { semanticsState: '{}' },
    });
    await catalog.saveTimestampHighWater(7n);
    expect(await catalog.client.get(`${catalog.prefix}tso/high-water`).string()).toBe(
      '{"format":1,"highWater":"7"}',
    );
  });

  test.each([
    ['not JSON', '{"format":1,'],
    ['another format', '{"format":2,"messageId":"1","walName":"w","timeTick":"1"}'],
    ['a timetick that is not a decimal string', '{"format":1,"messageId":"1","walName":"w","timeTick":1}'],
  ])('a damaged checkpoint (%s) is UNRECOVERABLE naming its key, on read and on save', async (_what, value) => {
    const catalog = freshCatalog();
    opened.push(catalog);
    const key = `${catalog.prefix}checkpoints/p1`;
    await catalog.client.put(key).value(value);
    for (const call of [
      () => catalog.getCheckpoint('p1'),
      () => catalog.saveCheckpoint('p1', { messageId: '1', walName: 'w', timeTick: 1n, term: 1n }),
    ]) {
      const error = await rejection(call());
      expect(error.code).toBe('UNRECOVERABLE');
      expect(error.retriable).toBe(false);
      expect(error.message).toContain(key);
      expect(error.details.key).toBe(key);
    }
  });

  test('damaged pchannel, broadcast and high-water records are UNRECOVERABLE naming their keys', async () => {
    const catalog = freshCatalog();
    opened.push(catalog);
    const keys = {
      pchannel: `${catalog.prefix}pchannels/p1`,
      broadcast: `${catalog.prefix}broadcasts/1`,
      highWater: `${catalog.prefix}tso/high-water`,
    };
    await catalog.client
      .put(keys.pchannel)
      .value('{"format":1,"name":"p1","term":"1","accessMode":"rw","state":"gone","history":[]}');
    await catalog.client.put(keys.broadcast).value('[]');
    await catalog.client.put(keys.highWater).value('{"format":1,"highWater":"-x"}');
    const pchannels = await rejection(catalog.listPChannels());
    const broadcasts = await rejection(catalog.listBroadcastTasks());
    const highWater = await rejection(catalog.getTimestampHighWater());
    expect([pchannels.code, broadcasts.code, highWater.code]).toEqual([
      'UNRECOVERABLE',
      'UNRECOVERABLE',
      'UNRECOVERABLE',
    ]);
    expect(pchannels.message).toContain(keys.pchannel);
    expect(broadcasts.message).toContain(keys.broadcast);
    expect(highWater.message).toContain(keys.highWater);
  });

  test('a checkpoint field that JSON cannot hold is INVALID_ARGUMENT, and nothing is written', async () => {
    const catalog = freshCatalog();
    opened.push(catalog);
    const error = await rejection(
      catalog.saveCheckpoint('p1', { messageId: '1', walName: 'w', timeTick: 1n, extra: 5n } as never),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('extra');
    expect(await catalog.getCheckpoint('p1')).toBeUndefined();
  });
});

describe('EtcdCatalog options and lifetime', () => {
  test('an unknown option, neither endpoints nor a client, or connection options beside a client is INVALID_ARGUMENT', () => {
    expect(() => new EtcdCatalog({ endpoints: endpoints(), hosts: 'x' } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => new EtcdCatalog({ prefix: 'a/' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => new EtcdCatalog({ endpoints: [] })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    const client = createEtcdClient({ endpoints: endpoints() });
    try {
      expect(() => new EtcdCatalog({ client, endpoints: endpoints() })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { option: 'endpoints' } }),
      );
      expect(() => new EtcdCatalog({ client, callTimeoutMs: 100 })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { option: 'callTimeoutMs' } }),
      );
    } finally {
      client.close();
    }
    expect(() => new EtcdCatalog({ endpoints: endpoints(), maxTxnOps: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  test('a prefix without a trailing slash gets one', async () => {
    const prefix = freshPrefix().slice(0, -1);
    const catalog = catalogOn(prefix);
    expect(catalog.prefix).toBe(`${prefix}/`);
    await catalog.saveTimestampHighWater(1n);
    expect(await catalog.client.get(`${prefix}/tso/high-water`).string()).not.toBeNull();
  });

  test('a closed catalog rejects every call with CLOSED', async () => {
    const catalog = freshCatalog();
    await catalog.close();
    for (const call of [
      () => catalog.listPChannels(),
      () => catalog.getCheckpoint('p'),
      () => catalog.saveCheckpoint('p', { messageId: '1', walName: 'w', timeTick: 1n }),
      () => catalog.saveTimestampHighWater(5n),
    ]) {
      const error = await rejection(call());
      expect(error.code).toBe('CLOSED');
      expect(error.retriable).toBe(false);
    }
  });

  test('a catalog on a shared client leaves the client open when it closes', async () => {
    const client = createEtcdClient({ endpoints: endpoints() });
    try {
      const prefix = freshPrefix('shared');
      const catalog = new EtcdCatalog({ client, prefix });
      await catalog.saveTimestampHighWater(3n);
      await catalog.close();
      expect(await client.get(`${prefix}tso/high-water`).string()).toBe('{"format":1,"highWater":"3"}');
    } finally {
      client.close();
    }
  });
});
