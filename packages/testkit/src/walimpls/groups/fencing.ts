import { DeliverPolicy, hasCode, type MessageID, type MutableMessage, WalError } from '@walstream/core';
import type { WalImpls } from '@walstream/core/spi';
import { check, describeError, expectRejection, fail } from '../../runner/assert.js';
import { abortable } from '../../runner/wait.js';
import { assertDelivered, dataMessage, isMarker, sortById, type Written } from '../messages.js';
import { appendAll, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { frozenWriter } from './frozen-writer.js';
import { appendMarker, seeded } from './shared.js';

function requireFencing(t: WalImplsTestContext): void {
  if (!t.capabilities.fencing) t.skip('the adapter does not declare capabilities.fencing');
}

/**
 * An append through a WAL that may or may not be fenced: its id when it resolved, `undefined` when it was
 * rejected CHANNEL_FENCED. Retriable rejections are retried (they write nothing); anything else fails.
 */
async function staleAppend(
  t: WalImplsTestContext,
  wal: WalImpls,
  message: MutableMessage,
): Promise<MessageID | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await abortable(wal.append(message), t.signal, 'an append through the term-1 WAL');
    } catch (error) {
      if (hasCode(error, 'CHANNEL_FENCED')) return undefined;
      if (WalError.is(error) && error.retriable && attempt < 5) continue;
      fail(
        `an append through the term-1 WAL after term 2 opened rejected with ${describeError(error)}, expected it to ` +
          'resolve or to reject CHANNEL_FENCED',
        error,
      );
    }
  }
}

export const fencing: readonly WalImplsCaseDefinition[] = [
  {
    group: 'fencing',
    name: 'opening term T+1 fences the term-T writer, and its rejected append does not land',
    async run(t) {
      requireFencing(t);
      const old = await seeded(t, 'fence', 4, 1);
      // The new owner is another node: its own opener on the same backend.
      const successor = await t.open(old.name, 2, 'rw', await t.newOpener());
      const stale = dataMessage(old.name, 1, 100).withProperty('stale', 'yes');
      const error = await expectRejection(
        'append through the term-1 WAL after term 2 opened',
        () => old.wal.append(stale),
        ['CHANNEL_FENCED'],
        5,
      );
      check(!error.retriable, 'CHANNEL_FENCED must not be retriable: the writer lost the channel for good');
      await expectRejection(
        'a second append through the fenced WAL',
        () => old.wal.append(stale),
        ['CHANNEL_FENCED'],
        5,
      );
      // The new owner writes on, and its readers see the old term's data and not the stale append.
      const scanner = await t.read(successor, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, successor, 'fence-end');
      const delivered = await readUntil(scanner, isMarker('fence-end'), t.signal, {
        max: old.written.length + 2,
        what: 'reading through the term-2 WAL',
      });
      assertDelivered(delivered, [...old.written, end], 'the log after the fence');
      await abortable(old.wal.close(), t.signal, 'closing the fenced WAL');
    },
  },
  {
    group: 'fencing',
    name: 'concurrent stale appends all fail while the new term writes on',
    async run(t) {
      requireFencing(t);
      const old = await seeded(t, 'fencerace', 1, 3);
      const successor = await t.open(old.name, 4, 'rw', await t.newOpener());
      // Five at once; an injected passing fault may come first, so each is retried until it says fenced.
      const [ours] = await Promise.all([
        appendAll(
          t,
          successor,
          Array.from({ length: 3 }, (_, seq) => dataMessage(old.name, 4, seq)),
        ),
        ...Array.from({ length: 5 }, async (_, seq) => {
          const error = await expectRejection(
            `stale append #${seq} after term 4 opened`,
            () => old.wal.append(dataMessage(old.name, 3, 10 + seq).withProperty('stale', 'yes')),
            ['CHANNEL_FENCED'],
            5,
          );
          check(
            !error.retriable,
            'CHANNEL_FENCED must not be retriable: the writer lost the channel for good',
          );
        }),
      ]);
      // Whatever the stale appends were answered on the way, none of them may be in the log.
      const scanner = await t.read(successor, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, successor, 'fencerace-end');
      const delivered = await readUntil(scanner, isMarker('fencerace-end'), t.signal, {
        max: old.written.length + ours.length + 6,
        what: 'reading through the term-4 WAL',
      });
      assertDelivered(delivered, [...old.written, ...sortById(ours), end], 'the log after the stale appends');
    },
  },
  frozenWriter,
  {
    group: 'fencing',
    name: 'without fencing, a term-T append after term T+1 opened lands if it resolves and not if it rejects',
    async run(t) {
      if (t.capabilities.fencing) {
        return t.skip(
          'the adapter declares capabilities.fencing: the cases above require stale appends to be rejected',
        );
      }
      const old = await seeded(t, 'nofence', 2, 1);
      const successor = await t.open(old.name, 2, 'rw', await t.newOpener());
      const landed: Written[] = [...old.written];
      for (let round = 0; round < 3; round++) {
        const stale = dataMessage(old.name, 1, 100 + round).withProperty('stale', 'yes');
        const outcome = await staleAppend(t, old.wal, stale);
        if (outcome !== undefined) landed.push({ id: outcome, message: stale });
        const fresh = dataMessage(old.name, 2, round);
        landed.push({ id: await t.append(successor, fresh), message: fresh });
      }
      const scanner = await t.read(successor, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, successor, 'nofence-end');
      const delivered = await readUntil(scanner, isMarker('nofence-end'), t.signal, {
        max: landed.length + 4,
        what: 'reading through the term-2 WAL',
      });
      assertDelivered(
        delivered,
        [...sortById(landed), end],
        'the log after appends of both terms (every append that resolved, none that was rejected)',
      );
    },
  },
];
