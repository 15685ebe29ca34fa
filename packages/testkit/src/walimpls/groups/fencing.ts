import { DeliverPolicy, hasCode, WalError } from '@walstream/core';
import { check, describeError, expectRejection, fail } from '../../runner/assert.js';
import { abortable } from '../../runner/wait.js';
import { assertDelivered, dataMessage, isMarker } from '../messages.js';
import { readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker, seeded } from './shared.js';

function requireFencing(t: WalImplsTestContext): void {
  if (!t.capabilities.fencing) t.skip('the adapter does not declare capabilities.fencing');
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
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, seq) => old.wal.append(dataMessage(old.name, 3, 10 + seq))),
      );
      for (const [i, result] of results.entries()) {
        if (result.status === 'fulfilled') {
          fail(`stale append #${i} resolved with ${String(result.value)} after term 4 opened`);
        }
        // An injected passing fault may come first; anything else must say the writer was fenced.
        const reason: unknown = result.reason;
        check(
          hasCode(reason, 'CHANNEL_FENCED') || (WalError.is(reason) && reason.retriable),
          () => `stale append #${i} rejected with ${describeError(reason)}, expected CHANNEL_FENCED`,
        );
      }
      await appendMarker(t, successor, 'fencerace-end');
    },
  },
];
