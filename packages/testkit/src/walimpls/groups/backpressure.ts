import { DeliverPolicy } from '@walstream/core';
import { check } from '../../runner/assert.js';
import { pause } from '../../runner/wait.js';
import { assertDelivered, assertSameMessage, dataMessage, isMarker, sortById } from '../messages.js';
import { appendAll, nextMessage, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition } from '../types.js';
import { appendMarker, seeded, smallCount } from './shared.js';

const READ_AHEAD = 8;
const PENDING = READ_AHEAD * 10;
/** How long the slow consumer dawdles before each message: time for a greedy fetch loop to overfill. */
const DAWDLE_MS = 1;

export const backpressure: readonly WalImplsCaseDefinition[] = [
  {
    group: 'backpressure',
    name: 'a slow consumer keeps buffered at or below readAheadBufferSize',
    async run(t) {
      const seed = await seeded(t, 'slow', PENDING);
      const scanner = await t.read(seed.wal, {
        deliverPolicy: DeliverPolicy.all(),
        readAheadBufferSize: READ_AHEAD,
      });
      const iterator = scanner[Symbol.asyncIterator]();
      // Appended after the scanner started, so a reader that loses the log's last message fails here.
      const expected = [...seed.written, await appendMarker(t, seed.wal, 'slow-end')];
      const observe = (moment: string) => {
        const buffered = scanner.buffered;
        check(
          Number.isInteger(buffered) && buffered >= 0,
          `scanner.buffered is ${String(buffered)} ${moment}, expected a count`,
        );
        check(
          buffered <= READ_AHEAD,
          `scanner.buffered is ${buffered} ${moment} with readAheadBufferSize ${READ_AHEAD} and ${PENDING} messages pending: the read-ahead is not bounded`,
        );
      };
      // Not asserted: that anything is buffered at all (an adapter may fetch only on demand).
      await pause(20, t.signal);
      observe('before the first next()');
      for (const [i, message] of expected.entries()) {
        await pause(DAWDLE_MS, t.signal);
        observe(`before delivery #${i}`);
        assertSameMessage(
          await nextMessage(iterator, t.signal, `slow consumer, delivery #${i}`),
          message,
          `slow consumer, delivery #${i}`,
        );
        observe(`after delivery #${i}`);
      }
    },
  },
  {
    group: 'backpressure',
    name: 'a stalled reader does not stall appends',
    async run(t) {
      const seed = await seeded(t, 'stalled', 4);
      // Never consumed: its read-ahead fills up and stays full.
      await t.read(seed.wal, { name: 'stalled', deliverPolicy: DeliverPolicy.all(), readAheadBufferSize: 2 });
      // Five in flight, so ids follow completion order, not submission order.
      const more = sortById(
        await appendAll(
          t,
          seed.wal,
          Array.from({ length: PENDING }, (_, seq) => dataMessage(seed.name, 1, 1000 + seq)),
          5,
        ),
      );
      const reader = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.startFrom(more[0]!.id) });
      const end = await appendMarker(t, seed.wal, 'stalled-end');
      const delivered = await readUntil(reader, isMarker('stalled-end'), t.signal, {
        max: PENDING + 1,
        what: 'a reader next to a stalled one',
      });
      assertDelivered(delivered, [...more, end], 'a reader next to a stalled one');
    },
  },
  {
    group: 'backpressure',
    name: 'an absent readAheadBufferSize means the adapter default',
    async run(t) {
      const seed = await seeded(t, 'defaultsize', smallCount(t));
      const absent = await t.read(seed.wal, { name: 'absent', deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, seed.wal, 'default-end');
      const delivered = await readUntil(absent, isMarker('default-end'), t.signal, {
        max: seed.written.length + 1,
        what: `scanner ${absent.name}`,
      });
      assertDelivered(delivered, [...seed.written, end], `scanner ${absent.name}`);
    },
  },
];
