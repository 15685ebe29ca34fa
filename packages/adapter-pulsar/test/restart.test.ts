import {
  DeliverPolicy,
  hasCode,
  type ImmutableMessage,
  type MessageID,
  MutableMessage,
  pchannel,
} from '@walstream/core';
import type { WalImpls } from '@walstream/core/spi';
import { type PulsarBroker, startPulsar } from '@walstream/testkit/pulsar';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { pulsarAdapter } from '../src/index.js';
import { uniqueName } from './env.js';

// A standalone of its own: after a SIGKILL the embedded bookie's old registration can expire later and
// take the new one with it ("Not enough non-faulty bookies"), which must not leak into other tests.
let broker: PulsarBroker;
beforeAll(async () => {
  broker = await startPulsar();
}, 240_000);
afterAll(async () => {
  await broker?.stop({ hard: true });
});

/** Appends, retrying what the SPI marks retriable, as the WAL runtime does. */
async function appendRetrying(wal: WalImpls, message: MutableMessage): Promise<MessageID> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await wal.append(message);
    } catch (error) {
      if (!hasCode(error, 'UNAVAILABLE', 'TIMEOUT') || attempt > 20) throw error;
    }
  }
}

const message = (phase: string, seq: number) =>
  new MutableMessage(new TextEncoder().encode(`${phase}-${seq}`), { phase, seq: String(seq) });

test('SIGKILL of the standalone: nothing acknowledged is lost; writer and reader carry on', async () => {
  // Reconnects must outlast a broker restart (~30 s on two cores).
  const opener = await pulsarAdapter({
    serviceUrl: broker.serviceUrl,
    adminUrl: broker.adminUrl,
    operationTimeoutMs: 180_000,
  }).build();
  try {
    const wal = await opener.open({ channel: pchannel(uniqueName('restart'), 1n) });
    const tail = await wal.read({
      name: 'across-restart',
      deliverPolicy: DeliverPolicy.all(),
      readAheadBufferSize: 16,
    });
    const acknowledged: MessageID[] = [];
    for (let i = 0; i < 100; i += 20) {
      acknowledged.push(
        ...(await Promise.all(Array.from({ length: 20 }, (_, k) => wal.append(message('before', i + k))))),
      );
    }
    // Appends in flight when the JVM dies: each either got its receipt (then it must survive) or fails
    // retriably (then it may or may not have landed).
    const inFlight = Array.from({ length: 50 }, (_, k) =>
      wal.append(message('during', k)).then(
        (id) => ({ id }),
        (error: unknown) => ({ error }),
      ),
    );
    await broker.restart({ hard: true });
    for (const outcome of await Promise.all(inFlight)) {
      if ('id' in outcome) acknowledged.push(outcome.id);
      else expect(hasCode(outcome.error, 'UNAVAILABLE'), String(outcome.error)).toBe(true);
    }
    const after = await appendRetrying(wal, message('after', 0));
    acknowledged.push(after);

    const check = async (delivered: ImmutableMessage[], what: string) => {
      for (let i = 1; i < delivered.length; i++) {
        expect(
          delivered[i]!.id.compare(delivered[i - 1]!.id),
          `${what}: ids strictly increase`,
        ).toBeGreaterThan(0);
      }
      for (const id of acknowledged) {
        expect(
          delivered.some((m) => m.id.compare(id) === 0),
          `${what}: acknowledged ${id} is there`,
        ).toBe(true);
      }
    };
    const readToAfter = async (scanner: AsyncIterable<ImmutableMessage>) => {
      const got: ImmutableMessage[] = [];
      for await (const m of scanner) {
        got.push(m);
        if (m.id.compare(after) === 0) break;
      }
      return got;
    };
    // The reader that was open across the restart resumes where it was: no gap, no duplicate.
    await check(await readToAfter(tail), 'reader open across the restart');
    // A new reader sees the same log.
    await check(
      await readToAfter(await wal.read({ name: 'after-restart', deliverPolicy: DeliverPolicy.all() })),
      'new reader',
    );
  } catch (error) {
    throw new Error(`${String(error)}\nbroker log:\n${broker.logTail(60)}`, { cause: error });
  } finally {
    await opener.close();
  }
}, 240_000);
