import { DeliverPolicy, hasCode } from '@walstream/core';
import type { RawScanner } from '@walstream/core/spi';
import { check, describeError } from '../../runner/assert.js';
import { abortable } from '../../runner/wait.js';
import { assertDelivered, assertSameMessage, isMarker } from '../messages.js';
import { readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker, seeded, smallCount } from './shared.js';

/** `done` settles to undefined: the scanner finished because it was closed, not because it failed. */
async function expectCleanDone(t: WalImplsTestContext, scanner: RawScanner, what: string): Promise<void> {
  const result = await abortable(scanner.done, t.signal, `${what}: scanner.done to settle`);
  check(
    result === undefined,
    () => `${what}: scanner.done settled with ${describeError(result)}, expected undefined`,
  );
}

/** A new iteration of a finished scanner ends at once. */
async function expectEnded(t: WalImplsTestContext, scanner: RawScanner, what: string): Promise<void> {
  const result = await abortable(
    scanner[Symbol.asyncIterator]().next(),
    t.signal,
    `${what}: next() after the end`,
  );
  check(
    result.done === true,
    () => `${what}: next() delivered ${String(result.value?.id)} after the scanner finished`,
  );
}

export const scannerLifecycle: readonly WalImplsCaseDefinition[] = [
  {
    group: 'scannerLifecycle',
    name: '10 scanners closed right after read() finish cleanly',
    async run(t) {
      const seed = await seeded(t, 'fastclose', smallCount(t));
      const scanners = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          t.read(seed.wal, {
            name: `fast-close-${i}`,
            deliverPolicy: DeliverPolicy.all(),
            readAheadBufferSize: 4,
          }),
        ),
      );
      await Promise.all(
        scanners.map((scanner) => abortable(scanner.close(), t.signal, `closing ${scanner.name}`)),
      );
      for (const scanner of scanners) {
        await expectCleanDone(t, scanner, scanner.name);
        await expectEnded(t, scanner, scanner.name);
        check(
          scanner.buffered === 0,
          `${scanner.name} still reports ${scanner.buffered} buffered messages after close()`,
        );
      }
      // The WAL is unharmed: a new reader sees everything, including an append made after the closes.
      const reader = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, seed.wal, 'after-fast-close');
      const delivered = await readUntil(reader, isMarker('after-fast-close'), t.signal, {
        max: seed.written.length + 1,
        what: 'a reader started after 10 fast closes',
      });
      assertDelivered(delivered, [...seed.written, end], 'a reader started after 10 fast closes');
    },
  },
  {
    group: 'scannerLifecycle',
    name: 'close() ends a pending iteration and done settles to undefined',
    async run(t) {
      const seed = await seeded(t, 'closewait', 3);
      const scanner = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.all() });
      const iterator = scanner[Symbol.asyncIterator]();
      const end = await appendMarker(t, seed.wal, 'closewait-end');
      const first = await readUntil(scanner, isMarker('closewait-end'), t.signal, {
        max: seed.written.length + 1,
        what: 'reading up to the end marker',
      });
      assertDelivered(first, [...seed.written, end], 'before close');
      // The reader is at the end of the log now, so this next() waits for an append that never comes.
      const pending = iterator.next();
      await abortable(scanner.close(), t.signal, 'scanner.close()');
      const result = await abortable(pending, t.signal, 'the pending next() to end after close()');
      check(
        result.done === true,
        () => `a next() pending at close() delivered ${String(result.value?.id)} instead of ending`,
      );
      await expectCleanDone(t, scanner, 'after close()');
      await abortable(scanner.close(), t.signal, 'a second scanner.close()');
      await expectEnded(t, scanner, 'after close()');
    },
  },
  {
    group: 'scannerLifecycle',
    name: 'breaking out of for await closes the scanner',
    async run(t) {
      const seed = await seeded(t, 'break', 6);
      const scanner = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.all(), readAheadBufferSize: 2 });
      let seen = 0;
      for await (const message of scanner) {
        assertSameMessage(message, seed.written[seen]!, `for await, delivery #${seen}`);
        if (++seen === 3) break;
      }
      await expectCleanDone(t, scanner, 'after break');
      await expectEnded(t, scanner, 'after break');
    },
  },
  {
    group: 'scannerLifecycle',
    name: 'closing the WAL ends its scanners',
    async run(t) {
      const seed = await seeded(t, 'walclose', 2);
      const scanner = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.all() });
      const iterator = scanner[Symbol.asyncIterator]();
      await appendMarker(t, seed.wal, 'walclose-end');
      await readUntil(scanner, isMarker('walclose-end'), t.signal, {
        max: seed.written.length + 1,
        what: 'reading up to the end marker',
      });
      const pending = iterator.next();
      await abortable(seed.wal.close(), t.signal, 'wal.close()');
      // Either a clean end or a CLOSED failure is a fair way to tell the reader its WAL went away.
      const outcome = await abortable(pending, t.signal, 'a pending next() to end after wal.close()').then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      if ('error' in outcome) {
        check(
          hasCode(outcome.error, 'CLOSED'),
          () =>
            `a next() pending at wal.close() threw ${describeError(outcome.error)}, expected the end or CLOSED`,
        );
      } else {
        check(
          outcome.result.done === true,
          () =>
            `a next() pending at wal.close() delivered ${String(outcome.result.value?.id)} instead of ending`,
        );
      }
      const done = await abortable(scanner.done, t.signal, 'scanner.done after wal.close()');
      check(
        done === undefined || hasCode(done, 'CLOSED'),
        () =>
          `scanner.done settled with ${describeError(done)} after wal.close(), expected undefined or CLOSED`,
      );
    },
  },
  {
    group: 'scannerLifecycle',
    name: 'aborting the read signal closes the scanner',
    async run(t) {
      const seed = await seeded(t, 'abortread', 3);
      const controller = new AbortController();
      const scanner = await t.read(seed.wal, {
        deliverPolicy: DeliverPolicy.all(),
        signal: controller.signal,
      });
      const iterator = scanner[Symbol.asyncIterator]();
      const end = await appendMarker(t, seed.wal, 'abortread-end');
      const delivered = await readUntil(scanner, isMarker('abortread-end'), t.signal, {
        max: seed.written.length + 1,
        what: 'reading up to the end marker',
      });
      assertDelivered(delivered, [...seed.written, end], 'before the abort');
      // At the end of the log: this next() waits for an append that never comes, until the abort.
      const pending = iterator.next();
      controller.abort(new Error('the reader gave up'));
      const result = await abortable(
        pending,
        t.signal,
        'the pending next() to end after the read signal aborted',
      );
      check(
        result.done === true,
        () =>
          `a next() pending when the read signal aborted delivered ${String(result.value?.id)} instead of ending`,
      );
      await expectCleanDone(t, scanner, 'after the read signal aborted');
      await expectEnded(t, scanner, 'after the read signal aborted');
    },
  },
];
