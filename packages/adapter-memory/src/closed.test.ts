import { DeliverPolicy, type ErrorCode, pchannel, type WalError } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryAdapter } from './adapter.js';
import { message, rejectsWith, waitUntil, within } from './test-helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});

/** CLOSED and not retriable: the owner closed it, so no retry can ever succeed. */
async function closedForGood(promise: Promise<unknown>): Promise<WalError> {
  const error = await rejectsWith(promise, 'CLOSED' satisfies ErrorCode);
  expect(error.retriable, error.message).toBe(false);
  return error;
}

describe('closed by its owner: CLOSED, not retriable', () => {
  it('a WAL after its own close(): append, read and truncate', async () => {
    const adapter = memoryAdapter();
    const opener = await adapter.build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel('closed-wal', 1n) });
    const id = await wal.append(message(0));
    await wal.close();
    await closedForGood(wal.append(message(1)));
    await closedForGood(wal.read({ name: 'late', deliverPolicy: DeliverPolicy.all() }));
    await closedForGood(wal.truncate(id));
  });

  it('an opener after its own close(): open, and the WALs it had opened', async () => {
    const opener = await memoryAdapter().build();
    const wal = await opener.open({ channel: pchannel('closed-opener', 1n) });
    await opener.close();
    await closedForGood(opener.open({ channel: pchannel('closed-opener', 2n) }));
    await closedForGood(wal.append(message(0)));
    await closedForGood(wal.read({ name: 'late', deliverPolicy: DeliverPolicy.all() }));
  });

  it('an append waiting on an injected delay when its WAL closes', async () => {
    const adapter = memoryAdapter();
    const opener = await adapter.build();
    openers.push(opener);
    adapter.store.faults('closed-delay').set({ appendDelayMs: 60_000 });
    const wal = await opener.open({ channel: pchannel('closed-delay', 1n) });
    const pending = wal.append(message(0));
    await wal.close();
    await closedForGood(within(pending, 2_000, 'the delayed append'));
    expect(adapter.store.stats('closed-delay').entries).toBe(0);
  });

  it('a scanner after its own close(): a waiting next() ends, done resolves undefined, nothing is left open', async () => {
    const adapter = memoryAdapter();
    const opener = await adapter.build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel('closed-scanner', 1n) });
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.latest() });
    const waiting = scanner[Symbol.asyncIterator]().next();
    await scanner.close();
    await expect(within(waiting, 2_000, 'the waiting next()')).resolves.toEqual({
      value: undefined,
      done: true,
    });
    await expect(within(scanner.done, 2_000, 'scanner.done')).resolves.toBeUndefined();
    await waitUntil(() => adapter.store.stats('closed-scanner').openScanners === 0, 'scanner released');
    // The WAL itself is not closed by closing one of its scanners.
    await expect(wal.append(message(1))).resolves.toBeDefined();
  });
});
