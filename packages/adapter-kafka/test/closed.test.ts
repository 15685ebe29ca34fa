import { DeliverPolicy, type ErrorCode, pchannel, WalError } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { adapterFor, DRIVERS, message, showBrokerLogOnFailure, uniqueChannel } from './helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});
beforeEach(() => showBrokerLogOnFailure());

/** What `promise` rejected with; fails the test when it resolved. */
async function rejection(promise: Promise<unknown>, what: string): Promise<WalError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(WalError.is(outcome), `${what}: expected a WalError, got ${String(outcome)}`).toBe(true);
  return outcome as WalError;
}

/** CLOSED and not retriable: the owner closed it, so no retry can ever succeed. */
async function closedForGood(promise: Promise<unknown>, what: string): Promise<void> {
  const error = await rejection(promise, what);
  expect(error.code, `${what}: ${error.message}`).toBe('CLOSED' satisfies ErrorCode);
  expect(error.retriable, `${what} must not be retriable`).toBe(false);
}

describe.each(DRIVERS)('closed by its owner: CLOSED, not retriable (%s)', (driver) => {
  test('a WAL after its own close(): append, read and truncate; appends queued at close', async () => {
    const opener = await adapterFor(driver).build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel(uniqueChannel('closedwal'), 1n) });
    const id = await wal.append(message(0));
    // Appends still queued when the WAL closes are rejected CLOSED; the one in flight may land.
    const queued = Promise.allSettled(Array.from({ length: 50 }, (_, i) => wal.append(message(i + 1))));
    await wal.close();
    for (const outcome of await queued) {
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toMatchObject({ code: 'CLOSED', retriable: false });
      }
    }
    await closedForGood(wal.append(message(99)), 'append after close');
    await closedForGood(wal.read({ name: 'late', deliverPolicy: DeliverPolicy.all() }), 'read after close');
    await closedForGood(wal.truncate(id), 'truncate after close');
  });

  test('an opener after its own close(): open, the WALs it had opened, and an open racing the close', async () => {
    const opener = await adapterFor(driver).build();
    const name = uniqueChannel('closedopener');
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    // Started before the close, still connecting when it comes: the close is the answer.
    const racing = opener.open({ channel: pchannel(uniqueChannel('racing'), 1n) });
    racing.catch(() => {}); // checked below; it may reject while the close is still running
    await opener.close();
    await closedForGood(racing, 'an open racing opener.close()');
    await closedForGood(opener.open({ channel: pchannel(name, 2n) }), 'open after close');
    await closedForGood(wal.append(message(1)), 'append on a WAL of a closed opener');
    await closedForGood(
      wal.read({ name: 'late', deliverPolicy: DeliverPolicy.all() }),
      'read on a WAL of a closed opener',
    );
  });

  test('a read racing its WAL close, and a scanner after its own close()', async () => {
    const opener = await adapterFor(driver).build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel(uniqueChannel('closedscan'), 1n) });
    await wal.append(message(0));
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.latest() });
    const waiting = scanner[Symbol.asyncIterator]().next();
    await scanner.close();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
    await expect(scanner.done).resolves.toBeUndefined();
    const racing = wal.read({ name: 'racing', deliverPolicy: DeliverPolicy.all() });
    racing.catch(() => {}); // checked below
    await wal.close();
    const outcome = await racing.then(
      async (late) => {
        // Started before the close: it is closed with the WAL.
        await expect(late.done).resolves.toBeUndefined();
        return undefined;
      },
      (error: unknown) => error,
    );
    if (outcome !== undefined) expect(outcome).toMatchObject({ code: 'CLOSED', retriable: false });
  });
});
