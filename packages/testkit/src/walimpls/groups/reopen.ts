import { DeliverPolicy, type ImmutableMessage, unmarshalMessageId } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { check, describeError, fail } from '../../runner/assert.js';
import { abortable } from '../../runner/wait.js';
import {
  assertDelivered,
  assertStrictlyIncreasing,
  dataMessage,
  isMarker,
  roundTripMessages,
  type Written,
} from '../messages.js';
import { appendAll, readCount, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker, smallCount } from './shared.js';
import { assertAfterTruncate } from './truncate.js';

/**
 * The other groups reopen pchannels through the builder that wrote them, so an adapter that serves reads
 * from a per-builder cache passes them whatever it stores. These cases write, close the opener as a
 * process does when it exits, and read back through a fresh builder from the caller's factory: what a
 * restarted process sees. The factory must return builders over the same backing store.
 */

interface Persisted {
  readonly name: string;
  /** Everything written at term 1, in id order: the round-trip messages, then data messages. */
  readonly written: Written[];
}

/** Writes the round-trip messages and `smallCount` data messages at term 1, then closes WAL and opener. */
async function writeAndExit(t: WalImplsTestContext, label: string): Promise<Persisted> {
  const opener = await t.newOpener();
  const name = t.channelName(label);
  const wal = await t.open(name, 1, 'rw', opener);
  const messages = [
    ...roundTripMessages(name),
    ...Array.from({ length: smallCount(t) }, (_, seq) => dataMessage(name, 1, seq)),
  ];
  const written = await appendAll(t, wal, messages);
  await abortable(wal.close(), t.signal, 'closing the WAL before the restart');
  await abortable(opener.close(), t.signal, 'closing the opener before the restart');
  return { name, written };
}

/** An opener of a fresh builder from the caller's factory: a restarted process. */
async function restarted(t: WalImplsTestContext): Promise<WalImplsOpener> {
  return t.newOpener(await t.newBuilder());
}

const FRESH = 'through a fresh builder';
const SAME_STORE =
  'the builder factory must return builders over the same backing store (the same brokers, directory or ' +
  'in-memory store object)';

/**
 * Fails with a pointer at the factory when a fresh builder delivered nothing but the `fresh` messages
 * its own writer appended: it does not see the store the first builder wrote to.
 */
function assertSeesOldData(
  delivered: readonly ImmutableMessage[],
  persisted: Persisted,
  fresh: number,
  where: string,
): void {
  check(
    delivered.length > fresh,
    () =>
      `${where}: none of the ${persisted.written.length} messages written before the restart came back, only ` +
      `the ${fresh} appended after it: ${SAME_STORE}`,
  );
}

export const reopen: readonly WalImplsCaseDefinition[] = [
  {
    group: 'reopen',
    name: 'a fresh builder reads back, read-only, what a closed writer wrote',
    async run(t) {
      const persisted = await writeAndExit(t, 'reopenro');
      const ro = await t.open(persisted.name, 2, 'ro', await restarted(t));
      const scanner = await t.read(ro, { deliverPolicy: DeliverPolicy.all() });
      const delivered = await readCount(
        scanner,
        persisted.written.length,
        t.signal,
        `reading ${persisted.name} read-only ${FRESH} (if nothing comes: ${SAME_STORE})`,
      );
      assertDelivered(delivered, persisted.written, `all read-only ${FRESH}`);
    },
  },
  {
    group: 'reopen',
    name: 'a fresh builder writes on after the old ids and resumes from a marshalled id',
    async run(t) {
      const persisted = await writeAndExit(t, 'reopenrw');
      const wal = await t.open(persisted.name, 2, 'rw', await restarted(t));
      const scanner = await t.read(wal, { deliverPolicy: DeliverPolicy.all() });
      const more = await appendAll(
        t,
        wal,
        Array.from({ length: 3 }, (_, seq) => dataMessage(persisted.name, 2, seq)),
      );
      const end = await appendMarker(t, wal, 'reopen-end');
      const expected = [...persisted.written, ...more, end];
      const delivered = await readUntil(scanner, isMarker('reopen-end'), t.signal, {
        max: expected.length,
        what: `reading ${persisted.name} ${FRESH}`,
      });
      assertSeesOldData(delivered, persisted, more.length + 1, `all ${FRESH}`);
      assertDelivered(delivered, expected, `all ${FRESH}, after appends at term 2`);
      assertStrictlyIncreasing(
        delivered.map((m) => m.id),
        `ids read ${FRESH} (the new writer's ids must follow the old ones)`,
      );
      // A checkpoint taken before the restart: its id went through marshal and unmarshal.
      const mid = Math.floor(persisted.written.length / 2);
      const checkpoint = unmarshalMessageId(t.walName, persisted.written[mid]!.id.marshal());
      const resumed = await t.read(wal, { deliverPolicy: DeliverPolicy.startAfter(checkpoint) });
      const tail = await readUntil(resumed, isMarker('reopen-end'), t.signal, {
        max: expected.length,
        what: `startAfter(a checkpointed id) ${FRESH}`,
      });
      assertDelivered(tail, expected.slice(mid + 1), `startAfter(a checkpointed id) ${FRESH}`);
    },
  },
  {
    group: 'reopen',
    name: 'a truncation survives a fresh builder',
    async run(t) {
      const persisted = await writeAndExit(t, 'reopentrunc');
      // Truncate through a second process, then read through a third.
      const second = await t.open(persisted.name, 2, 'rw', await restarted(t));
      const mid = Math.floor(persisted.written.length / 2);
      const cut = persisted.written[mid]!.id;
      try {
        await abortable(second.truncate(cut), t.signal, `truncate(middle id) ${FRESH}`);
      } catch (error) {
        if (t.signal.aborted) throw error;
        fail(
          `truncate(${cut.toString()}) ${FRESH} failed: ${describeError(error)} (if it does not know the id: ` +
            `${SAME_STORE})`,
          error,
        );
      }
      await abortable(second.close(), t.signal, 'closing the WAL after truncate');
      const third = await t.open(persisted.name, 3, 'rw', await restarted(t));
      const scanner = await t.read(third, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, third, 'trunc-end');
      const written = [...persisted.written, end];
      const delivered = await readUntil(scanner, isMarker('trunc-end'), t.signal, {
        max: written.length,
        what: `reading ${persisted.name} ${FRESH} after truncate`,
      });
      assertSeesOldData(delivered, persisted, 1, `all ${FRESH} after truncate`);
      assertAfterTruncate(t, delivered, written, cut, `all ${FRESH} after truncate`);
    },
  },
];
