import { DeliverPolicy } from '@walstream/core';
import { check, expectRejection } from '../../runner/assert.js';
import { assertDelivered, dataMessage, isMarker } from '../messages.js';
import { readUntil } from '../reading.js';
import type { WalImplsCaseDefinition } from '../types.js';
import { appendMarker, seeded, smallCount } from './shared.js';

export const readOnly: readonly WalImplsCaseDefinition[] = [
  {
    group: 'readOnly',
    name: 'an RO open reads what the writer wrote',
    async run(t) {
      const seed = await seeded(t, 'roread', smallCount(t));
      await seed.wal.close();
      const ro = await t.open(seed.name, 1, 'ro');
      check(
        ro.channel.accessMode === 'ro',
        `wal.channel.accessMode is ${JSON.stringify(ro.channel.accessMode)}, expected "ro"`,
      );
      check(ro.channel.term === 1n, `wal.channel.term is ${String(ro.channel.term)}, expected 1n`);
      const scanner = await t.read(ro, { deliverPolicy: DeliverPolicy.all() });
      // The end marker comes from a later writer: the RO reader must also follow what others append.
      const successor = await t.open(seed.name, 2, 'rw', await t.newOpener());
      const end = await appendMarker(t, successor, 'ro-read-end');
      const delivered = await readUntil(scanner, isMarker('ro-read-end'), t.signal, {
        max: seed.written.length + 1,
        what: 'reading through the RO WAL',
      });
      assertDelivered(delivered, [...seed.written, end], 'read through the RO WAL');
    },
  },
  {
    group: 'readOnly',
    name: 'append and truncate on an RO WAL reject READ_ONLY and write nothing',
    async run(t) {
      const seed = await seeded(t, 'rowrite', 3);
      await seed.wal.close();
      const ro = await t.open(seed.name, 1, 'ro');
      const intruder = dataMessage(seed.name, 1, 999).withProperty('intruder', 'ro');
      const retries = 5;
      await expectRejection('append on an RO WAL', () => ro.append(intruder), ['READ_ONLY'], retries);
      await expectRejection(
        'truncate on an RO WAL',
        () => ro.truncate(seed.written[1]!.id),
        ['READ_ONLY'],
        retries,
      );
      await ro.close();
      // Nothing landed and nothing was dropped: a later writer still sees exactly the seeded messages.
      const rw = await t.open(seed.name, 2);
      const scanner = await t.read(rw, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, rw, 'ro-end');
      const delivered = await readUntil(scanner, isMarker('ro-end'), t.signal, {
        max: seed.written.length + 2,
        what: 'reading after the rejected RO writes',
      });
      assertDelivered(delivered, [...seed.written, end], 'the log after the rejected RO writes');
    },
  },
  {
    group: 'readOnly',
    name: 'an RO open next to the writer does not disturb it',
    async run(t) {
      const seed = await seeded(t, 'roside', 3);
      // Another node opens the channel read-only at the writer's term; the writer must keep writing.
      const ro = await t.open(seed.name, 1, 'ro', await t.newOpener());
      const tail = await t.read(ro, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, seed.wal, 'ro-side-end');
      const delivered = await readUntil(tail, isMarker('ro-side-end'), t.signal, {
        max: seed.written.length + 1,
        what: 'an RO reader following the writer',
      });
      assertDelivered(delivered, [...seed.written, end], 'an RO reader following the writer');
    },
  },
];
