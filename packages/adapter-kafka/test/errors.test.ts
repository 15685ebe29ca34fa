import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import { kafkaAdapter } from '@walstream/adapter-kafka';
import { hasCode, MutableMessage, pchannel, WalError } from '@walstream/core';
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
  test('no broker at build: UNAVAILABLE, or TIMEOUT from connectTimeoutMs, naming the address', async () => {
    const port = await freePort();
    const adapter = kafkaAdapter({ driver, brokers: [`127.0.0.1:${port}`], connectTimeoutMs: 2_000 });
    const error = await adapter.build().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(hasCode(error, 'UNAVAILABLE', 'TIMEOUT'), String(error)).toBe(true);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    if (hasCode(error, 'TIMEOUT')) expect((error as WalError).details.timeoutMs).toBe(2_000);
  });

  test('a peer that accepts and never answers: build rejects TIMEOUT from connectTimeoutMs', async () => {
    // A listener that takes connections and stays silent: the client's own request timeout is set far
    // beyond the test's, so the only answer in time is the adapter's connect bound.
    const silent = createServer(() => {});
    const sockets = new Set<Socket>();
    silent.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const adapter = kafkaAdapter({
        driver,
        brokers: [`127.0.0.1:${port}`],
        connectTimeoutMs: 2_000,
        operationTimeoutMs: 3_600_000,
      });
      const error = await adapter.build().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(WalError.is(error), String(error)).toBe(true);
      expect(error).toMatchObject({ code: 'TIMEOUT', details: { timeoutMs: 2_000 } });
      expect((error as Error).message).toContain(`connecting to Kafka at 127.0.0.1:${port}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
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
