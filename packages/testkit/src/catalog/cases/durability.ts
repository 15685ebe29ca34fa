import { check } from '../../runner/assert.js';
import type { CatalogCaseDefinition } from '../types.js';
import { checkpoint, HUGE, meta, task } from './fixtures.js';
import { same } from './records.js';

export const durability: CatalogCaseDefinition[] = [
  {
    group: 'durability',
    name: 'every record is there through a new handle once its save resolved',
    async run(t) {
      const { catalog } = t;
      const metas = [meta('a', 2n, { history: [{ nodeId: 'n0', term: 1n }] }), meta('b', HUGE)];
      const tasks = [task(3n, { acked: ['a_v0'] }), task(HUGE, { state: 'tombstone' })];
      const saved = { ...checkpoint(4n, HUGE), semanticsState: '{"v":1}' };
      await catalog.savePChannels(metas);
      for (const record of [...tasks, task(9n)]) await catalog.saveBroadcastTask(record);
      await catalog.removeBroadcastTask(9n);
      check(
        await catalog.saveCheckpoint('a', saved),
        'the checkpoint save resolved false on an empty catalog',
      );
      await catalog.saveTimestampHighWater(HUGE);
      const handle = await t.reopen();
      same('listPChannels through the new handle', await handle.listPChannels(), metas);
      same('listBroadcastTasks through the new handle', await handle.listBroadcastTasks(), tasks);
      same('getCheckpoint through the new handle', await handle.getCheckpoint('a'), saved);
      same('getTimestampHighWater through the new handle', await handle.getTimestampHighWater(), HUGE);
    },
  },
  {
    group: 'durability',
    name: 'a new handle refuses a checkpoint of a lower term than one saved before it was opened',
    async run(t) {
      check(await t.catalog.saveCheckpoint('p', checkpoint(5n, 1n)), 'the term-5 save resolved false');
      const handle = await t.reopen();
      const result = await handle.saveCheckpoint('p', checkpoint(4n, 2n));
      check(result === false, `the new handle's term-4 save resolved ${String(result)}, expected false`);
      same('getCheckpoint through the new handle', await handle.getCheckpoint('p'), checkpoint(5n, 1n));
    },
  },
];
