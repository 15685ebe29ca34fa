import { DeliverPolicy, type ImmutableMessage, type MessageID } from '@walstream/core';
import type { RawScanner } from '@walstream/core/spi';
import fc from 'fast-check';
import { check, describeError, fail } from '../../runner/assert.js';
import { assertCovered, drawAsync } from '../../runner/property.js';
import { abortable } from '../../runner/wait.js';
import {
  assertDelivered,
  assertSameMessage,
  dataMessage,
  isMarker,
  label,
  type Written,
} from '../messages.js';
import { readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker, type Seeded, seeded, smallCount } from './shared.js';

/**
 * What `all` must deliver after `truncate(cut)`: with `noop` everything; with `physical` nothing before
 * the cut, and the entry at the cut itself (the SPI keeps it, so `startFrom(cut)` works).
 */
export function assertAfterTruncate(
  t: WalImplsTestContext,
  delivered: readonly ImmutableMessage[],
  written: readonly Written[],
  cut: MessageID,
  where: string,
): void {
  if (t.capabilities.truncate === 'noop') {
    assertDelivered(delivered, written, `${where} (truncate is a no-op: everything stays)`);
    return;
  }
  const at = written.findIndex((w) => w.id.compare(cut) === 0);
  if (at < 0) fail(`${where}: the truncation id ${cut.toString()} is not among the written messages`);
  const first = delivered[0];
  const expected = written.slice(at);
  if (first !== undefined && first.id.compare(cut) < 0) {
    fail(
      `${where}: truncate is physical, yet all delivered ${label(first)} from before the truncation id ${cut.toString()}`,
    );
  }
  assertDelivered(delivered, expected, `${where} (truncate is physical: nothing before ${cut.toString()})`);
}

async function readAll(t: WalImplsTestContext, seed: Seeded, end: string): Promise<ImmutableMessage[]> {
  const scanner = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.all() });
  const marker = await appendMarker(t, seed.wal, end);
  seed.written.push(marker);
  const delivered = await readUntil(scanner, isMarker(end), t.signal, {
    max: seed.written.length,
    what: `reading ${seed.name} with all after truncate`,
  });
  await scanner.close();
  return delivered;
}

export const truncate: readonly WalImplsCaseDefinition[] = [
  {
    group: 'truncate',
    name: 'truncate at a higher term, then close and reopen',
    async run(t) {
      const first = await seeded(t, 'truncreopen', smallCount(t));
      await first.wal.close();
      // The Milvus sequence: a later term appends, truncates at its own id, closes and reopens.
      const wal = await t.open(first.name, 2);
      const message = dataMessage(first.name, 2, 0);
      const cut: Written = { id: await t.append(wal, message), message };
      await abortable(wal.truncate(cut.id), t.signal, 'truncate(the id just appended)');
      await abortable(wal.close(), t.signal, 'closing the WAL after truncate');
      const reopened = await t.open(first.name, 2);
      const seed: Seeded = { name: first.name, wal: reopened, written: [...first.written, cut] };
      const delivered = await readAll(t, seed, 'reopened-end');
      assertAfterTruncate(t, delivered, seed.written, cut.id, 'all after truncate and reopen');
    },
  },
  {
    group: 'truncate',
    name: 'truncate in the middle keeps what comes after the id',
    async run(t) {
      const seed = await seeded(t, 'truncmid', smallCount(t));
      const mid = Math.floor(seed.written.length / 2);
      const cut = seed.written[mid]!.id;
      await abortable(seed.wal.truncate(cut), t.signal, 'truncate(middle id)');
      const delivered = await readAll(t, seed, 'mid-end');
      assertAfterTruncate(t, delivered, seed.written, cut, 'all after truncate(middle id)');
      // Resuming after the truncation point, as recovery from a checkpoint does, works either way.
      const resumed = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.startAfter(cut) });
      const next = await readUntil(resumed, isMarker('mid-end'), t.signal, {
        max: seed.written.length,
        what: 'startAfter(truncation id)',
      });
      assertDelivered(next, seed.written.slice(mid + 1), 'startAfter(truncation id) after truncate');
    },
  },
  {
    group: 'truncate',
    name: 'truncate is idempotent and accepts an earlier id',
    async run(t) {
      const seed = await seeded(t, 'truncagain', smallCount(t));
      const mid = Math.floor(seed.written.length / 2);
      const cut = seed.written[mid]!.id;
      await abortable(seed.wal.truncate(cut), t.signal, 'truncate(middle id)');
      await abortable(seed.wal.truncate(cut), t.signal, 'truncate(middle id) again');
      await abortable(seed.wal.truncate(seed.written[1]!.id), t.signal, 'truncate(an earlier id)');
      const delivered = await readAll(t, seed, 'again-end');
      // An earlier truncation id must not bring back what the later one dropped.
      assertAfterTruncate(t, delivered, seed.written, cut, 'all after truncating backwards');
      const last = delivered.at(-1);
      check(last !== undefined, 'all delivered nothing after truncate');
      assertSameMessage(last, seed.written.at(-1)!, 'the last delivery after truncate');
    },
  },
  {
    group: 'truncate',
    name: 'startFrom and startAfter a truncated id start at the first entry kept',
    async run(t) {
      const count = 8;
      const seen = { 'the first entry': 0, 'the entry just before the cut': 0, 'a cut at the last entry': 0 };
      await drawAsync<[number, number]>(
        'readers started at ids before a drawn truncation point',
        fc
          .integer({ min: 1, max: count - 1 })
          .chain((cut) => fc.tuple(fc.constant(cut), fc.integer({ min: 0, max: cut - 1 }))),
        async ([cut, before]) => {
          if (before === 0) seen['the first entry']++;
          if (before === cut - 1) seen['the entry just before the cut']++;
          if (cut === count - 1) seen['a cut at the last entry']++;
          const seed = await seeded(t, 'trunconly', count);
          const cutId = seed.written[cut]!.id;
          await abortable(seed.wal.truncate(cutId), t.signal, `truncate(entry #${cut})`);
          // What stays: from the cut with physical truncation, everything with a no-op.
          const kept = t.capabilities.truncate === 'physical' ? cut : 0;
          const data = [...seed.written];
          const readers: [string, DeliverPolicy, number][] = [
            [
              `startFrom(truncated entry #${before})`,
              DeliverPolicy.startFrom(data[before]!.id),
              Math.max(before, kept),
            ],
            [
              `startAfter(truncated entry #${before})`,
              DeliverPolicy.startAfter(data[before]!.id),
              Math.max(before + 1, kept),
            ],
            [`startFrom(the truncation id, entry #${cut})`, DeliverPolicy.startFrom(cutId), cut],
          ];
          for (const [what, policy, first] of readers) {
            let scanner: RawScanner;
            try {
              scanner = await t.read(seed.wal, { deliverPolicy: policy });
            } catch (error) {
              if (t.signal.aborted) throw error;
              fail(
                `${what} after truncate(entry #${cut}): read() rejected with ${describeError(error)}, expected a ` +
                  'reader that starts at the first entry kept',
                error,
              );
            }
            const label = `trunc-${seed.written.length}`;
            const end = await appendMarker(t, seed.wal, label);
            seed.written.push(end);
            const delivered = await readUntil(scanner, isMarker(label), t.signal, {
              max: seed.written.length,
              what: `${what} after truncate(entry #${cut})`,
            });
            await scanner.close();
            assertDelivered(
              delivered,
              seed.written.slice(first),
              `${what} after truncate(entry #${cut}) (truncate is ${t.capabilities.truncate})`,
            );
          }
        },
        {
          numRuns: Math.ceil(t.numRuns / 2),
          seed: t.seed,
          examples: [
            [1, 0],
            [count - 1, 0],
            [count - 1, count - 2],
            [count / 2, count / 2 - 1],
          ],
          describe: ([cut, before]) => `truncate(entry #${cut}), then read from entry #${before}`,
        },
      );
      assertCovered('readers started at ids before a drawn truncation point', seen);
    },
  },
];
