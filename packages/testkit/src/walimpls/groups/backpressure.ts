import { DeliverPolicy } from '@walstream/core';
import fc from 'fast-check';
import { check } from '../../runner/assert.js';
import { assertCovered, drawAsync } from '../../runner/property.js';
import { abortable, pause } from '../../runner/wait.js';
import { assertDelivered, assertSameMessage, dataMessage, isMarker, sortById } from '../messages.js';
import { appendAll, nextMessage, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker, type Seeded, seeded, smallCount } from './shared.js';

const READ_AHEAD = 8;
const PENDING = READ_AHEAD * 10;
/** How long the slow consumer dawdles before each message: time for a greedy fetch loop to overfill. */
const DAWDLE_MS = 1;
/** How long a consumer stalls before the suite looks how much its reader took. */
const STALL_MS = 20;

/**
 * Reads `seed`'s log with `readAhead` and a consumer that dawdles before each message, checking
 * `scanner.buffered` never exceeds `readAhead`, everything arrives, and nothing is counted as buffered once
 * the consumer took the whole log.
 */
async function slowConsumer(
  t: WalImplsTestContext,
  seed: Seeded,
  readAhead: number,
  label: string,
): Promise<void> {
  const scanner = await t.read(seed.wal, {
    deliverPolicy: DeliverPolicy.all(),
    readAheadBufferSize: readAhead,
  });
  const iterator = scanner[Symbol.asyncIterator]();
  // Appended after the scanner started, so a reader that loses the log's last message fails here.
  const end = await appendMarker(t, seed.wal, label);
  const expected = [...seed.written, end];
  const observe = (moment: string, most = readAhead) => {
    const buffered = scanner.buffered;
    check(
      Number.isInteger(buffered) && buffered >= 0,
      `scanner.buffered is ${String(buffered)} ${moment}, expected a count`,
    );
    check(
      buffered <= most,
      most === 0
        ? `scanner.buffered is ${buffered} ${moment}, yet the consumer took every message in the log`
        : `scanner.buffered is ${buffered} ${moment} with readAheadBufferSize ${readAhead} and ${expected.length} messages pending: the read-ahead is not bounded`,
    );
  };
  // Not asserted: that anything is buffered at all (an adapter may fetch only on demand).
  await pause(STALL_MS, t.signal);
  observe('before the first next()');
  for (const [i, message] of expected.entries()) {
    await pause(DAWDLE_MS, t.signal);
    observe(`before delivery #${i}`);
    assertSameMessage(
      await nextMessage(iterator, t.signal, `slow consumer, delivery #${i}`),
      message,
      `slow consumer (readAheadBufferSize ${readAhead}), delivery #${i}`,
    );
    observe(`after delivery #${i}`);
  }
  observe('after the consumer took the whole log', 0);
  await scanner.close();
  seed.written.push(end);
}

export const backpressure: readonly WalImplsCaseDefinition[] = [
  {
    group: 'backpressure',
    name: 'a slow consumer keeps buffered at or below readAheadBufferSize',
    async run(t) {
      const seed = await seeded(t, 'slow', PENDING);
      const seen = { 'a read-ahead of 1': 0, 'a read-ahead below the backlog': 0 };
      let run = 0;
      await drawAsync(
        'slow consumers with drawn read-ahead sizes',
        fc.integer({ min: 1, max: 2 * READ_AHEAD }),
        async (readAhead) => {
          if (readAhead === 1) seen['a read-ahead of 1']++;
          if (readAhead < PENDING) seen['a read-ahead below the backlog']++;
          await slowConsumer(t, seed, readAhead, `slow-end-${++run}`);
        },
        {
          // Each run dawdles through the whole backlog on purpose: a few are enough.
          numRuns: Math.ceil(t.numRuns / 5),
          seed: t.seed,
          examples: [READ_AHEAD, 1],
          describe: (readAhead) => `readAheadBufferSize ${readAhead}`,
        },
      );
      assertCovered('slow consumers with drawn read-ahead sizes', seen);
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
  {
    group: 'backpressure',
    name: 'a reader that is not consumed stops taking entries from the store',
    async run(t) {
      const probe = t.storeProbe;
      if (probe === undefined) {
        return t.skip(
          'no storeProbe option: what a reader holds beyond scanner.buffered cannot be seen from outside the store',
        );
      }
      const slack = probe.slack ?? 1;
      check(
        Number.isSafeInteger(slack) && slack >= 0,
        `storeProbe.slack must be a non-negative integer, got ${String(slack)}`,
      );
      const seed = await seeded(t, 'probe', PENDING);
      const fetched = async (): Promise<number> => {
        const count = await abortable(
          Promise.resolve().then(() => probe.fetched(seed.name)),
          t.signal,
          'storeProbe.fetched',
        );
        check(Number.isSafeInteger(count), `storeProbe.fetched returned ${String(count)}, expected a count`);
        return count;
      };
      const before = await fetched();
      const scanner = await t.read(seed.wal, {
        deliverPolicy: DeliverPolicy.all(),
        readAheadBufferSize: READ_AHEAD,
      });
      const iterator = scanner[Symbol.asyncIterator]();
      const expected = [...seed.written, await appendMarker(t, seed.wal, 'probe-end')];
      const observe = async (taken: number, moment: string) => {
        // A pause, not a wait for something: it gives a fetch loop without backpressure time to run ahead.
        await pause(STALL_MS, t.signal);
        const took = (await fetched()) - before;
        const bound = taken + READ_AHEAD + slack;
        check(
          took <= bound,
          `${moment}, having delivered ${taken} of ${expected.length} messages, the reader took ${took} entries ` +
            `from the store (storeProbe.fetched); readAheadBufferSize ${READ_AHEAD} and slack ${slack} allow ` +
            `${bound}: it keeps a queue of its own beyond the read-ahead buffer`,
        );
      };
      await observe(0, 'while nothing is consumed');
      const half = Math.floor(expected.length / 2);
      for (const [i, message] of expected.entries()) {
        assertSameMessage(
          await nextMessage(iterator, t.signal, `delivery #${i}`),
          message,
          `reader measured through storeProbe, delivery #${i}`,
        );
        if (i + 1 === half) await observe(half, 'while the consumer pauses halfway');
      }
      // The probe must see this reader at all, or every bound above holds trivially.
      const took = (await fetched()) - before;
      check(
        took >= expected.length,
        `storeProbe.fetched grew by ${took} while the reader delivered ${expected.length} entries: it does not count what readers take from the store`,
      );
    },
  },
];
