import { kafkaAdapter } from '@walstream/adapter-kafka';
import { hasCode, MutableMessage, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { freePort } from '@walstream/testkit/kafka';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { adapterFor, DRIVERS, message, showBrokerLogOnFailure, uniqueChannel } from './helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});
beforeEach(() => showBrokerLogOnFailure());

describe.each(DRIVERS)('kafka errors (%s)', (driver) => {
  test('no broker at build: UNAVAILABLE or TIMEOUT within connectTimeoutMs', async () => {
    const port = await freePort();
    const adapter = kafkaAdapter({ driver, brokers: [`127.0.0.1:${port}`], connectTimeoutMs: 2_000 });
    const started = Date.now();
    const error = await adapter.build().then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    expect(hasCode(error, 'UNAVAILABLE', 'TIMEOUT'), String(error)).toBe(true);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    // The bound is the option plus scheduling slack, not the client's own (much longer) retry budget.
    expect(elapsed).toBeLessThan(2_000 + 3_000);
  });

  test('a message over the topic limit rejects INVALID_ARGUMENT naming the limit; others still land', async () => {
    const opener = await adapterFor(driver, { topicConfig: { 'max.message.bytes': '4096' } }).build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel(uniqueChannel('big'), 1n) });
    const big = new MutableMessage(Buffer.alloc(5_000, 1), { seq: 'big' });
    const [small1, oversize, small2] = await Promise.allSettled([
      wal.append(message(1)),
      wal.append(big),
      wal.append(new MutableMessage(Buffer.alloc(3_000, 2), { seq: '2' })),
    ]);
    expect(small1.status).toBe('fulfilled');
    expect(small2.status).toBe('fulfilled');
    expect(oversize.status).toBe('rejected');
    const reason = (oversize as PromiseRejectedResult).reason as Error;
    expect(hasCode(reason, 'INVALID_ARGUMENT')).toBe(true);
    expect(reason.message).toContain('max.message.bytes');
    expect(reason.message).toContain('4096');
  });

  test('a message over the broker default (1 MiB) rejects INVALID_ARGUMENT naming the limit', async () => {
    const opener = await adapterFor(driver).build();
    openers.push(opener);
    const wal = await opener.open({ channel: pchannel(uniqueChannel('huge'), 1n) });
    const error = await wal.append(new MutableMessage(Buffer.alloc(1_100_000), {})).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(hasCode(error, 'INVALID_ARGUMENT'), String(error)).toBe(true);
    expect((error as Error).message).toContain('1048588');
  });

  test('an illegal topic name rejects INVALID_ARGUMENT', async () => {
    const opener = await adapterFor(driver).build();
    openers.push(opener);
    await expect(opener.open({ channel: pchannel('no spaces/allowed', 1n) })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
