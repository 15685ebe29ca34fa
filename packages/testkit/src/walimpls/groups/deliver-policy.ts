import { DeliverPolicy, type MessageID, unmarshalMessageId } from '@walstream/core';
import { describeDeliverPolicy } from '@walstream/core/spi';
import fc from 'fast-check';
import { assertCovered, drawAsync } from '../../runner/property.js';
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

/**
 * Where a drawn reader starts: an entry of the data written up front, or one counted from the end of the
 * log as it is when the reader starts (`fromEnd: 0` is the log's last entry).
 */
type Start = { readonly index: number } | { readonly fromEnd: 0 | 1 };

/** Entries the position cases write up front: enough to cross the 64-entry boundary of pages and batches. */
const POSITION_LOG = 66;

/** Starts anywhere: any entry, the entries around powers of two (pages, batches), the log's end. */
function startIn(length: number): fc.Arbitrary<Start> {
  const power = fc.integer({ min: 1, max: Math.max(1, Math.floor(Math.log2(length))) });
  return fc.oneof(
    fc.nat(length - 1).map((index): Start => ({ index })),
    fc
      .tuple(power, fc.integer({ min: -1, max: 1 }))
      .map(([k, d]): Start => ({ index: Math.min(length - 1, 2 ** k + d) })),
    fc.constantFrom<Start>({ fromEnd: 0 }, { fromEnd: 1 }),
  );
}

/** The starts every position case tries first: both ends, the middle, and each side of 16, 32, 64, …. */
function startExamples(length: number): Start[] {
  const indices = [0, 1, Math.floor(length / 2)];
  for (let p = 16; p < length; p *= 2) indices.push(p - 1, p, p + 1);
  return [
    ...[...new Set(indices)].filter((i) => i < length).map((index): Start => ({ index })),
    { fromEnd: 0 },
    { fromEnd: 1 },
  ];
}

function positionOf(start: Start, written: readonly Written[]): number {
  return 'index' in start ? start.index : written.length - 1 - start.fromEnd;
}

function describeStart(start: Start): string {
  return 'index' in start
    ? `entry #${start.index}`
    : start.fromEnd === 0
      ? 'the last entry of the log'
      : 'the second to last entry of the log';
}

/**
 * Reads with `policyAt(id)` from drawn positions of a log of {@link POSITION_LOG} entries, each reader until
 * an end marker appended after it started, and checks it delivered exactly `written.slice(from(position))`
 * then the marker. The log grows by a marker per reader, so "the last entry" is a different one each time.
 */
async function drawStarts(
  t: WalImplsTestContext,
  label: string,
  readers: readonly {
    readonly policyAt: (id: MessageID) => DeliverPolicy;
    /** The first delivered entry for a start at `position`. */
    readonly from: (position: number) => number;
  }[],
  few = false,
): Promise<void> {
  const seed = await seeded(t, label, POSITION_LOG);
  const seen = { 'the first entry': 0, 'the last entry of the log': 0, 'an entry in the middle': 0 };
  let run = 0;
  await drawAsync(
    `readers started at drawn positions of ${seed.name}`,
    startIn(POSITION_LOG),
    async (start) => {
      for (const reader of readers) {
        // Resolved for each reader: the log grew by the previous reader's end marker.
        const position = positionOf(start, seed.written);
        if (position === 0) seen['the first entry']++;
        else if (position === seed.written.length - 1) seen['the last entry of the log']++;
        else seen['an entry in the middle']++;
        const policy = reader.policyAt(seed.written[position]!.id);
        const expected = seed.written.slice(reader.from(position));
        await expectDelivery(t, seed, policy, expected, `${label}-${++run}`);
      }
    },
    {
      // `few`: a case that repeats another's positions with other ids tries the ends, the middle and 32.
      numRuns: few ? Math.ceil(t.numRuns / 2) : t.numRuns,
      seed: t.seed,
      examples: few
        ? [{ index: 0 }, { index: 32 }, { index: POSITION_LOG / 2 }, { fromEnd: 0 }]
        : startExamples(POSITION_LOG),
      describe: describeStart,
    },
  );
  assertCovered(`readers started at drawn positions of ${seed.name}`, seen);
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
      await drawStarts(t, 'from', [{ policyAt: DeliverPolicy.startFrom, from: (position) => position }]);
    },
  },
  {
    group: 'deliverPolicy',
    name: 'startAfter(id) resumes after the id, exclusive',
    async run(t) {
      await drawStarts(t, 'after', [
        { policyAt: DeliverPolicy.startAfter, from: (position) => position + 1 },
      ]);
    },
  },
  {
    group: 'deliverPolicy',
    name: 'startFrom and startAfter accept ids that went through marshal and unmarshal',
    async run(t) {
      // A checkpointed id: marshalled, stored, and decoded by another process.
      const decoded = (id: MessageID) => unmarshalMessageId(t.walName, id.marshal());
      await drawStarts(
        t,
        'marshalled',
        [
          { policyAt: (id) => DeliverPolicy.startFrom(decoded(id)), from: (position) => position },
          { policyAt: (id) => DeliverPolicy.startAfter(decoded(id)), from: (position) => position + 1 },
        ],
        true,
      );
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
