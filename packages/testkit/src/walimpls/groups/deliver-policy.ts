import { DeliverPolicy, type MessageID, unmarshalMessageId } from '@walstream/core';
import { describeDeliverPolicy } from '@walstream/core/spi';
import { assertDelivered, assertSameMessage, dataMessage, isMarker, type Written } from '../messages.js';
import { appendAll, nextMessage, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker, type Seeded, seeded, smallCount } from './shared.js';

/**
 * Reads `seed`'s channel with `policy` until an end marker that is appended only after the scanner
 * started, and checks the delivered list is exactly `expected` then the marker. Appending the marker
 * late makes the scanner cross from catching up to tailing, and means a lost tail message is seen as a
 * wrong list instead of a reader that waits forever.
 */
async function expectDelivery(
  t: WalImplsTestContext,
  seed: Seeded,
  policy: DeliverPolicy,
  expected: readonly Written[],
  label: string,
): Promise<void> {
  const scanner = await t.read(seed.wal, { deliverPolicy: policy });
  const end = await appendMarker(t, seed.wal, label);
  const what = `${describeDeliverPolicy(policy)} on ${seed.name}`;
  const delivered = await readUntil(scanner, isMarker(label), t.signal, {
    max: seed.written.length + 8,
    what: `reading ${what} until the end marker`,
  });
  assertDelivered(delivered, [...expected, end], what);
  await scanner.close();
  seed.written.push(end);
}

/** First, second, middle, second to last and last: where off-by-one errors live. */
function positions(count: number): number[] {
  return [...new Set([0, 1, Math.floor(count / 2), count - 2, count - 1])].filter((i) => i >= 0 && i < count);
}

export const deliverPolicy: readonly WalImplsCaseDefinition[] = [
  {
    group: 'deliverPolicy',
    name: 'all delivers every message from the first',
    async run(t) {
      const seed = await seeded(t, 'all', smallCount(t));
      await expectDelivery(t, seed, DeliverPolicy.all(), [...seed.written], 'all-end');
    },
  },
  {
    group: 'deliverPolicy',
    name: 'startFrom(id) resumes at the id, inclusive',
    async run(t) {
      const seed = await seeded(t, 'from', smallCount(t));
      const data = [...seed.written];
      for (const i of positions(data.length)) {
        await expectDelivery(t, seed, DeliverPolicy.startFrom(data[i]!.id), data.slice(i), `from-${i}`);
        // The marker just written belongs after the data for the next position's expectation.
        data.push(seed.written.at(-1)!);
      }
    },
  },
  {
    group: 'deliverPolicy',
    name: 'startAfter(id) resumes after the id, exclusive',
    async run(t) {
      const seed = await seeded(t, 'after', smallCount(t));
      const data = [...seed.written];
      for (const i of positions(data.length)) {
        await expectDelivery(t, seed, DeliverPolicy.startAfter(data[i]!.id), data.slice(i + 1), `after-${i}`);
        data.push(seed.written.at(-1)!);
      }
    },
  },
  {
    group: 'deliverPolicy',
    name: 'startFrom and startAfter accept ids that went through marshal and unmarshal',
    async run(t) {
      const seed = await seeded(t, 'marshalled', smallCount(t));
      const data = [...seed.written];
      const mid = Math.floor(data.length / 2);
      const decoded: MessageID = unmarshalMessageId(t.walName, data[mid]!.id.marshal());
      await expectDelivery(t, seed, DeliverPolicy.startFrom(decoded), data.slice(mid), 'from-decoded');
      data.push(seed.written.at(-1)!);
      await expectDelivery(t, seed, DeliverPolicy.startAfter(decoded), data.slice(mid + 1), 'after-decoded');
    },
  },
  {
    group: 'deliverPolicy',
    name: 'latest delivers nothing old, then exactly the next appends',
    async run(t) {
      const seed = await seeded(t, 'latest', smallCount(t));
      // Nothing old may come: the first delivery must be the marker appended after read() resolved.
      await expectDelivery(t, seed, DeliverPolicy.latest(), [], 'latest-end');
      // And from then on it tails: a second latest reader sees later appends in order.
      const scanner = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.latest() });
      const next = await appendAll(
        t,
        seed.wal,
        [0, 1, 2].map((seq) => dataMessage(seed.name, 2, seq)),
      );
      const iterator = scanner[Symbol.asyncIterator]();
      for (const [i, expected] of next.entries()) {
        const message = await nextMessage(
          iterator,
          t.signal,
          `latest reader waiting for append #${i} after it started`,
        );
        assertSameMessage(message, expected, `latest reader, delivery #${i}`);
      }
    },
  },
  {
    group: 'deliverPolicy',
    name: 'scanners with different policies keep independent positions',
    async run(t) {
      const seed = await seeded(t, 'independent', smallCount(t));
      const data = [...seed.written];
      const mid = Math.floor(data.length / 2);
      const fromStart = await t.read(seed.wal, { name: 'from-start', deliverPolicy: DeliverPolicy.all() });
      const fromMid = await t.read(seed.wal, {
        name: 'from-mid',
        deliverPolicy: DeliverPolicy.startAfter(data[mid]!.id),
      });
      const end = await appendMarker(t, seed.wal, 'independent-end');
      // Interleave the two readers one message at a time: a shared cursor would show up here.
      const a = fromStart[Symbol.asyncIterator]();
      const b = fromMid[Symbol.asyncIterator]();
      const expectedA = [...data, end];
      const expectedB = [...data.slice(mid + 1), end];
      for (let i = 0; i < expectedA.length; i++) {
        assertSameMessage(
          await nextMessage(a, t.signal, `from-start #${i}`),
          expectedA[i]!,
          `from-start, delivery #${i}`,
        );
        if (i < expectedB.length) {
          assertSameMessage(
            await nextMessage(b, t.signal, `from-mid #${i}`),
            expectedB[i]!,
            `from-mid, delivery #${i}`,
          );
        }
      }
    },
  },
];
