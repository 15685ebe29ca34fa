import { DeliverPolicy, hasCode, type ImmutableMessage, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  adapterFor,
  DRIVERS,
  message,
  showBrokerLogOnFailure,
  stealProducerEpoch,
  uniqueChannel,
} from './helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});
beforeEach(() => showBrokerLogOnFailure());

/** Two "nodes": separate openers, so separate producers and connections, as after a reassignment. */
async function twoNodes(driver: (typeof DRIVERS)[number], extra: Parameters<typeof adapterFor>[1] = {}) {
  const a = await adapterFor(driver, extra).build();
  const b = await adapterFor(driver, extra).build();
  openers.push(a, b);
  return { a, b };
}

async function readSeqs(
  opener: WalImplsOpener,
  name: string,
  term: bigint,
  until: string,
): Promise<string[]> {
  const wal = await opener.open({ channel: pchannel(name, term, 'ro') });
  const scanner = await wal.read({ name: 'check', deliverPolicy: DeliverPolicy.all() });
  const seen: ImmutableMessage[] = [];
  for await (const delivered of scanner) {
    seen.push(delivered);
    if (delivered.properties.seq === until) break;
  }
  await wal.close();
  return seen.map((m) => m.properties.seq!);
}

describe.each(DRIVERS)('kafka fencing (%s)', (driver) => {
  test('a lower-term writer cannot land a message after a higher term opened', async () => {
    const { a, b } = await twoNodes(driver);
    const name = uniqueChannel('fence');
    const old = await a.open({ channel: pchannel(name, 1n) });
    await old.append(message(1));
    const successor = await b.open({ channel: pchannel(name, 2n) });
    const stale = await old.append(message(2)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(hasCode(stale, 'CHANNEL_FENCED')).toBe(true);
    expect((stale as { retriable: boolean }).retriable).toBe(false);
    // Fenced for good: later appends fail the same way without touching the broker.
    await expect(old.append(message(3))).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    await successor.append(message(4));
    expect(await readSeqs(b, name, 2n, '4')).toEqual(['1', '4']);
  });

  test('a stale opener (lower term, opened later) is rejected and does not disturb the owner', async () => {
    const { a, b } = await twoNodes(driver);
    const name = uniqueChannel('staleopen');
    const owner = await a.open({ channel: pchannel(name, 5n) });
    await owner.append(message(1));
    await expect(b.open({ channel: pchannel(name, 4n) })).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    // Whatever the stale opener did to the producer epoch, the owner keeps writing.
    await owner.append(message(2));
    await owner.append(message(3));
    expect(await readSeqs(a, name, 5n, '3')).toEqual(['1', '2', '3']);
  });

  test.each([
    0, 1_000,
  ])('an epoch stolen by a producer of the same transactional id is taken back (takeoverGraceMs %i); nothing is lost', async (takeoverGraceMs) => {
    const { a } = await twoNodes(driver, { takeoverGraceMs });
    const name = uniqueChannel('steal');
    const owner = await a.open({ channel: pchannel(name, 5n) });
    await owner.append(message(1));
    // A stale node past its stamp check: its InitProducerId bumps the epoch and fences the owner's producer.
    const thief = await stealProducerEpoch(name);
    try {
      await owner.append(message(2));
      await owner.append(message(3));
    } finally {
      await thief.disconnect();
    }
    expect(await readSeqs(a, name, 5n, '3')).toEqual(['1', '2', '3']);
  });

  test('after a group commit of several record batches (stamp on its last record only), a lower term is still rejected', async () => {
    // 10 messages per record batch: the 100 concurrent appends go out as one transaction of 10 batches.
    const a = await adapterFor(driver, { maxBatchMessages: 10 }).build();
    const b = await adapterFor(driver).build();
    openers.push(a, b);
    const name = uniqueChannel('stamp');
    const owner = await a.open({ channel: pchannel(name, 5n) });
    const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => owner.append(message(i + 1))));
    expect(new Set(ids.map(String)).size).toBe(100);
    // Truncating up to the last record drops the open marker and the 99 unstamped records: only the
    // transaction's last record is left to carry the term.
    await owner.truncate(ids[99]!);
    await expect(b.open({ channel: pchannel(name, 4n) })).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    await owner.append(message(101));
    expect(await readSeqs(b, name, 5n, '101')).toEqual(['100', '101']);
  });

  test('re-opening at the same term takes over from the earlier writer of that term', async () => {
    const { a, b } = await twoNodes(driver);
    const name = uniqueChannel('sameterm');
    const first = await a.open({ channel: pchannel(name, 3n) });
    await first.append(message(1));
    const second = await b.open({ channel: pchannel(name, 3n) });
    await second.append(message(2));
    await expect(first.append(message(9))).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    await second.append(message(3));
    expect(await readSeqs(b, name, 3n, '3')).toEqual(['1', '2', '3']);
  });

  test('with fencing "none" the capability is off and a stale writer still lands (Milvus behaviour)', async () => {
    const adapter = adapterFor(driver, { fencing: 'none' });
    expect(adapter.capabilities.fencing).toBe(false);
    const a = await adapter.build();
    const b = await adapterFor(driver, { fencing: 'none' }).build();
    openers.push(a, b);
    const name = uniqueChannel('nofence');
    const old = await a.open({ channel: pchannel(name, 1n) });
    await b.open({ channel: pchannel(name, 2n) });
    await old.append(message(1));
    expect(await readSeqs(b, name, 2n, '1')).toEqual(['1']);
  });
});
