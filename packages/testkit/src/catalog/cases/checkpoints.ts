import type { WalCheckpoint } from '@walstream/core';
import { check } from '../../runner/assert.js';
import type { CatalogCaseDefinition } from '../types.js';
import { checkpoint, HUGE } from './fixtures.js';
import { same } from './records.js';

async function expectSave(what: string, actual: Promise<boolean>, expected: boolean): Promise<void> {
  const result = await actual;
  check(
    result === expected,
    `${what}: saveCheckpoint resolved ${String(result)}, expected ${String(expected)}`,
  );
}

export const checkpoints: CatalogCaseDefinition[] = [
  {
    group: 'checkpoints',
    name: 'an unknown pchannel has no checkpoint',
    async run({ catalog }) {
      same('getCheckpoint of an unknown pchannel', await catalog.getCheckpoint('nowhere'), undefined);
    },
  },
  {
    group: 'checkpoints',
    name: 'a checkpoint round-trips with its term, a timetick beyond 63 bits and the fields a writer added',
    async run({ catalog }) {
      const saved: WalCheckpoint & { semanticsState: string } = {
        messageId: 'opaque/ü:1',
        walName: 'conformance',
        timeTick: 2n ** 63n + 5n,
        term: HUGE,
        semanticsState: '{"vchannels":[{"name":"a_v0"}]}',
      };
      await expectSave('the first save', catalog.saveCheckpoint('p', saved), true);
      same('getCheckpoint', await catalog.getCheckpoint('p'), saved);
    },
  },
  {
    group: 'checkpoints',
    name: 'a checkpoint saved without a term reads back without one',
    async run({ catalog }) {
      await expectSave('a save without a term', catalog.saveCheckpoint('p', checkpoint(undefined, 1n)), true);
      const stored = await catalog.getCheckpoint('p');
      same('getCheckpoint', stored, checkpoint(undefined, 1n));
      check(
        stored !== undefined && !('term' in stored && stored.term !== undefined),
        'the record read back has a term',
      );
    },
  },
  {
    group: 'checkpoints',
    name: 'a save at the stored term or above replaces the record and resolves true',
    async run({ catalog }) {
      await expectSave('term 3', catalog.saveCheckpoint('p', checkpoint(3n, 1n)), true);
      await expectSave('term 3 again', catalog.saveCheckpoint('p', checkpoint(3n, 2n)), true);
      same('getCheckpoint after the same term', await catalog.getCheckpoint('p'), checkpoint(3n, 2n));
      await expectSave('term 4', catalog.saveCheckpoint('p', checkpoint(4n, 3n)), true);
      same('getCheckpoint after a higher term', await catalog.getCheckpoint('p'), checkpoint(4n, 3n));
    },
  },
  {
    group: 'checkpoints',
    name: 'a save at a lower term resolves false and leaves the stored record as it was',
    async run({ catalog }) {
      await expectSave('term 5', catalog.saveCheckpoint('p', checkpoint(5n, 10n)), true);
      await expectSave('term 4 after term 5', catalog.saveCheckpoint('p', checkpoint(4n, 20n)), false);
      await expectSave('term 0 after term 5', catalog.saveCheckpoint('p', checkpoint(0n, 30n)), false);
      same('getCheckpoint', await catalog.getCheckpoint('p'), checkpoint(5n, 10n));
    },
  },
  {
    group: 'checkpoints',
    name: 'a save without a term counts as term 0: refused over a record of term 1',
    async run({ catalog }) {
      await expectSave('term 1', catalog.saveCheckpoint('p', checkpoint(1n, 1n)), true);
      await expectSave('no term after term 1', catalog.saveCheckpoint('p', checkpoint(undefined, 2n)), false);
      same('getCheckpoint', await catalog.getCheckpoint('p'), checkpoint(1n, 1n));
      await expectSave(
        'no term on a new pchannel',
        catalog.saveCheckpoint('q', checkpoint(undefined, 3n)),
        true,
      );
      await expectSave('term 0 over no term', catalog.saveCheckpoint('q', checkpoint(0n, 4n)), true);
    },
  },
  {
    group: 'checkpoints',
    name: 'checkpoints of different pchannels do not fence each other',
    async run({ catalog }) {
      await expectSave('p at term 9', catalog.saveCheckpoint('p', checkpoint(9n, 1n)), true);
      await expectSave('q at term 1', catalog.saveCheckpoint('q', checkpoint(1n, 2n)), true);
      same('the checkpoint of p', await catalog.getCheckpoint('p'), checkpoint(9n, 1n));
      same('the checkpoint of q', await catalog.getCheckpoint('q'), checkpoint(1n, 2n));
    },
  },
];
