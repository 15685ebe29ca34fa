import type { Catalog } from '@walstream/core';
import { check } from '../../runner/assert.js';
import type { CatalogCaseDefinition } from '../types.js';
import { HUGE, meta, task } from './fixtures.js';

/** JSON with bigints and bytes spelled out and object keys sorted: equal records print the same. */
const json = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Uint8Array) return `bytes[${[...v].join(',')}]`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });

export function same(what: string, actual: unknown, expected: unknown): void {
  check(json(actual) === json(expected), () => `${what}: got ${json(actual)}, expected ${json(expected)}`);
}

const names = async (catalog: Catalog) => (await catalog.listPChannels()).map((m) => m.channel.name);

export const pchannels: CatalogCaseDefinition[] = [
  {
    group: 'pchannels',
    name: 'an empty catalog lists no pchannels',
    async run({ catalog }) {
      same('listPChannels of an empty catalog', await catalog.listPChannels(), []);
    },
  },
  {
    group: 'pchannels',
    name: 'saved pchannel metas list back equal: a term beyond 64 bits, history, read-only, no node',
    async run({ catalog }) {
      const saved = [
        meta('a', HUGE, {
          history: [
            { nodeId: 'n0', term: 1n },
            { nodeId: 'n1', term: HUGE - 1n },
          ],
        }),
        {
          channel: { name: 'b', term: 0n, accessMode: 'ro' as const },
          state: 'uninitialized' as const,
          history: [],
        },
        meta('c', 3n, { state: 'unavailable', nodeId: 'node-é/1' }),
      ];
      await catalog.savePChannels(saved);
      same('listPChannels after savePChannels', await catalog.listPChannels(), saved);
    },
  },
  {
    group: 'pchannels',
    name: 'pchannels list sorted by name',
    async run({ catalog }) {
      await catalog.savePChannels([meta('p3', 1n), meta('p1', 1n)]);
      await catalog.savePChannels([meta('p2', 1n)]);
      same('the names listPChannels returns', await names(catalog), ['p1', 'p2', 'p3']);
    },
  },
  {
    group: 'pchannels',
    name: "a later save replaces a pchannel's meta and leaves the others as they were",
    async run({ catalog }) {
      await catalog.savePChannels([meta('a', 1n), meta('b', 1n)]);
      const moved = meta('a', 2n, {
        state: 'assigning',
        nodeId: 'node-2',
        history: [{ nodeId: 'node-1', term: 1n }],
      });
      await catalog.savePChannels([moved]);
      same('listPChannels', await catalog.listPChannels(), [moved, meta('b', 1n)]);
    },
  },
  {
    group: 'pchannels',
    name: 'one save of 300 metas stores every one of them',
    async run({ catalog }) {
      const many = Array.from({ length: 300 }, (_, i) => meta(`p${String(i).padStart(3, '0')}`, BigInt(i)));
      await catalog.savePChannels(many);
      same('listPChannels', await catalog.listPChannels(), many);
    },
  },
];

export const broadcasts: CatalogCaseDefinition[] = [
  {
    group: 'broadcasts',
    name: 'an empty catalog lists no broadcast tasks',
    async run({ catalog }) {
      same('listBroadcastTasks of an empty catalog', await catalog.listBroadcastTasks(), []);
    },
  },
  {
    group: 'broadcasts',
    name: 'a broadcast task round-trips exactly: an id beyond 64 bits, payload bytes, properties, acked vchannels',
    async run({ catalog }) {
      const saved = task(HUGE, {
        message: { payload: Uint8Array.of(0, 255, 7, 0), properties: { k: 'v', empty: '', 'ü/x': '"q"' } },
        acked: ['a_v0', 'b_v1'],
      });
      const empty = task(5n, { state: 'done', message: { payload: new Uint8Array(), properties: {} } });
      await catalog.saveBroadcastTask(saved);
      await catalog.saveBroadcastTask(empty);
      same('listBroadcastTasks', await catalog.listBroadcastTasks(), [empty, saved]);
    },
  },
  {
    group: 'broadcasts',
    name: 'broadcast tasks list in broadcastId order, compared as numbers',
    async run({ catalog }) {
      for (const id of [100n, 9n, HUGE, 10n, 0n]) await catalog.saveBroadcastTask(task(id));
      same(
        'the ids listBroadcastTasks returns',
        (await catalog.listBroadcastTasks()).map((t) => t.broadcastId),
        [0n, 9n, 10n, 100n, HUGE],
      );
    },
  },
  {
    group: 'broadcasts',
    name: 'saving a task with a known id replaces it',
    async run({ catalog }) {
      await catalog.saveBroadcastTask(task(7n));
      const acked = task(7n, { acked: ['a_v0'], state: 'done' });
      await catalog.saveBroadcastTask(acked);
      same('listBroadcastTasks', await catalog.listBroadcastTasks(), [acked]);
    },
  },
  {
    group: 'broadcasts',
    name: 'a removed task no longer lists, and removing an unknown id changes nothing',
    async run({ catalog }) {
      await catalog.saveBroadcastTask(task(1n));
      await catalog.saveBroadcastTask(task(2n));
      await catalog.removeBroadcastTask(1n);
      await catalog.removeBroadcastTask(99n);
      same('listBroadcastTasks', await catalog.listBroadcastTasks(), [task(2n)]);
    },
  },
];

export const timestamps: CatalogCaseDefinition[] = [
  {
    group: 'timestamps',
    name: "an empty catalog's timestamp high-water mark is 0",
    async run({ catalog }) {
      same('getTimestampHighWater of an empty catalog', await catalog.getTimestampHighWater(), 0n);
    },
  },
  {
    group: 'timestamps',
    name: 'a raised high-water mark reads back, beyond 64 bits',
    async run({ catalog }) {
      await catalog.saveTimestampHighWater(1n << 40n);
      same('getTimestampHighWater', await catalog.getTimestampHighWater(), 1n << 40n);
      await catalog.saveTimestampHighWater(HUGE);
      same('getTimestampHighWater', await catalog.getTimestampHighWater(), HUGE);
    },
  },
  {
    group: 'timestamps',
    name: 'saving a lower high-water mark never lowers the stored one',
    async run({ catalog }) {
      await catalog.saveTimestampHighWater(1_000n);
      await catalog.saveTimestampHighWater(999n);
      await catalog.saveTimestampHighWater(0n);
      same('getTimestampHighWater', await catalog.getTimestampHighWater(), 1_000n);
    },
  },
];
