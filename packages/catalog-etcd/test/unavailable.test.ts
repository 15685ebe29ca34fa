import { WalError } from '@walstream/core';
import { freePort, startEtcd } from '@walstream/testkit/etcd';
import { describe, expect, test } from 'vitest';
import { EtcdCatalog } from '../src/index.js';

async function rejection(promise: Promise<unknown>): Promise<WalError> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection, but it resolved');
}

describe('EtcdCatalog when etcd is away', () => {
  test('nothing listening on the endpoint: calls reject UNAVAILABLE, retriable', async () => {
    const port = await freePort();
    const catalog = new EtcdCatalog({
      endpoints: [`http://127.0.0.1:${port}`],
      callTimeoutMs: 2_000,
      dialTimeoutMs: 1_000,
    });
    try {
      for (const call of [
        () => catalog.getCheckpoint('p'),
        () => catalog.saveCheckpoint('p', { messageId: '1', walName: 'w', timeTick: 1n, term: 1n }),
        () => catalog.listPChannels(),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe('UNAVAILABLE');
        expect(error.retriable).toBe(true);
      }
    } finally {
      await catalog.close();
    }
  });

  test('etcd stopped under a connected catalog: UNAVAILABLE while down, and the save lands once it is back', async () => {
    // Its own etcd: stopping the run's one would fail every other test file.
    const etcd = await startEtcd({ log: () => undefined });
    const catalog = new EtcdCatalog({
      endpoints: [...etcd.endpoints],
      callTimeoutMs: 2_000,
      dialTimeoutMs: 1_000,
    });
    try {
      expect(
        await catalog.saveCheckpoint('p', { messageId: '1', walName: 'w', timeTick: 1n, term: 1n }),
      ).toBe(true);
      await etcd.restart({
        whileDown: async () => {
          const error = await rejection(
            catalog.saveCheckpoint('p', { messageId: '2', walName: 'w', timeTick: 2n, term: 1n }),
          );
          expect(error.code).toBe('UNAVAILABLE');
          expect(error.retriable).toBe(true);
        },
      });
      // The client reconnects with backoff: retry a retriable failure until a bounded deadline.
      const deadline = Date.now() + 30_000;
      let saved: boolean | undefined;
      while (saved === undefined) {
        try {
          saved = await catalog.saveCheckpoint('p', { messageId: '3', walName: 'w', timeTick: 3n, term: 1n });
        } catch (error) {
          if (!(WalError.is(error) && error.retriable) || Date.now() > deadline) throw error;
        }
      }
      expect(saved).toBe(true);
      expect((await catalog.getCheckpoint('p'))?.timeTick).toBe(3n);
    } finally {
      await catalog.close();
      await etcd.stop();
    }
  });
});
