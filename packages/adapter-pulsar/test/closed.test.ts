import { DeliverPolicy, type ErrorCode, MutableMessage, pchannel, WalError } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, test } from 'vitest';
import { adapter, uniqueName } from './env.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.allSettled(openers.splice(0).map((opener) => opener.close()));
});

function message(seq: number): MutableMessage {
  return new MutableMessage(new TextEncoder().encode(`m-${seq}`), { seq: String(seq) });
}

/** CLOSED and not retriable: the owner closed it, so no retry can ever succeed. */
async function closedForGood(promise: Promise<unknown>, what: string): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(WalError.is(outcome), `${what}: expected a WalError, got ${String(outcome)}`).toBe(true);
  const error = outcome as WalError;
  expect(error.code, `${what}: ${error.message}`).toBe('CLOSED' satisfies ErrorCode);
  expect(error.retriable, `${what} must not be retriable`).toBe(false);
}

describe('closed by its owner: CLOSED, not retriable', () => {
  test('a WAL after its own close(): append, read and truncate; sends in the window at close', async () => {
    const opener = await adapter({ maxPendingMessages: 1 }).build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel(uniqueName('closed-wal'), 1n) });
    const id = await wal.append(message(0));
    // One send in flight, the rest wait for room in the window: those are rejected CLOSED.
    const waiting = Promise.allSettled(Array.from({ length: 5 }, (_, i) => wal.append(message(i + 1))));
    await wal.close();
    for (const outcome of await waiting) {
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toMatchObject({ code: 'CLOSED', retriable: false });
      }
    }
    await closedForGood(wal.append(message(9)), 'append after close');
    await closedForGood(wal.read({ name: 'late', deliverPolicy: DeliverPolicy.all() }), 'read after close');
    await closedForGood(wal.truncate(id), 'truncate after close');
  });

  test('an opener after its own close(): open, the WALs it had opened, and an open racing the close', async () => {
    const opener = await adapter().build();
    const name = uniqueName('closed-opener');
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    const racing = opener.open({ channel: pchannel(uniqueName('racing'), 1n) });
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
    const opener = await adapter().build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel(uniqueName('closed-scan'), 1n) });
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
        await late.close();
        return undefined;
      },
      (error: unknown) => error,
    );
    if (outcome !== undefined) expect(outcome).toMatchObject({ code: 'CLOSED', retriable: false });
  });
});
