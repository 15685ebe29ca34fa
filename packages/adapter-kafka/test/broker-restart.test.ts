import { type KafkaDriverName, kafkaAdapter } from '@walstream/adapter-kafka';
import { DeliverPolicy, hasCode, type ImmutableMessage, pchannel, WalError } from '@walstream/core';
import { type KafkaBroker, startKafka } from '@walstream/testkit/kafka';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { DRIVERS, message, showBrokerLogOnFailure, uniqueChannel, waitFor, within } from './helpers.js';

// Restarting a broker would disturb every other test file, so this file has a broker of its own.
let kafka: KafkaBroker;
beforeAll(async () => {
  kafka = await startKafka();
});
afterAll(async () => {
  await kafka?.stop();
});
beforeEach(() => showBrokerLogOnFailure(kafka.logFile));

function adapter(driver: KafkaDriverName) {
  // Short bounds so appends during the outage fail fast instead of hanging for the defaults.
  return kafkaAdapter({
    driver,
    brokers: [kafka.bootstrap],
    connectTimeoutMs: 3_000,
    operationTimeoutMs: 8_000,
  });
}

describe.each(DRIVERS)('kafka broker restart (%s)', (driver) => {
  test('appends resume and every acknowledged message is read exactly once, in order', async () => {
    const opener = await adapter(driver).build();
    try {
      const name = uniqueChannel('restart');
      const wal = await opener.open({ channel: pchannel(name, 1n) });
      const scanner = await wal.read({ name: 'tail', deliverPolicy: DeliverPolicy.all() });
      const delivered: ImmutableMessage[] = [];
      const reading = (async () => {
        for await (const m of scanner) {
          delivered.push(m);
          if (m.properties.seq === 'end') return;
        }
      })();

      // Four writers append unique sequence numbers; a failed append is never retried under the same
      // number, so "acknowledged" and "failed" are disjoint sets.
      const acked = new Map<string, bigint>();
      const failed = new Set<string>();
      /** What a writer caught that was neither UNAVAILABLE nor TIMEOUT: checked once they stopped. */
      const unexpected: unknown[] = [];
      let seq = 0;
      let running = true;
      const writer = async () => {
        while (running) {
          const n = String(seq++);
          try {
            const id = await wal.append(message(Number(n)));
            acked.set(n, (id as unknown as { offset: bigint }).offset);
          } catch (error) {
            if (!hasCode(error, 'UNAVAILABLE', 'TIMEOUT')) unexpected.push(error);
            failed.add(n);
            // Pacing only (a failing broker answers at once): nothing is ordered by this pause.
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      };
      const writers = Array.from({ length: 4 }, writer);
      try {
        await waitFor(() => acked.size >= 40, '40 appends before the restart', 30_000);
        const before = acked.size;
        await kafka.restart();
        await waitFor(() => acked.size >= before + 40, '40 appends after the restart', 60_000);
      } finally {
        // The writers stop with the test, whether it passed or not.
        running = false;
        await Promise.allSettled(writers);
      }
      expect(unexpected.map(String)).toEqual([]);

      // The end marker goes through once the writer re-established itself.
      await wal.append(message(0, { seq: 'end' }));
      await within(reading, 60_000, 'the tailing scanner to reach the end marker');
      await scanner.close();

      const seqs = delivered.map((m) => m.properties.seq!).filter((s) => s !== 'end');
      // Exactly once: no sequence number twice, and every acknowledged one is there.
      expect(new Set(seqs).size).toBe(seqs.length);
      for (const n of acked.keys()) expect(seqs).toContain(n);
      // Failed appends may or may not have landed (the SPI says so), but only once.
      for (const s of seqs) expect(acked.has(s) || failed.has(s)).toBe(true);
      // In order: ids strictly increase, and each acknowledged message sits at its acknowledged id.
      const offsets = delivered.map((m) => (m.id as unknown as { offset: bigint }).offset);
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]! > offsets[i - 1]!).toBe(true);
      for (const m of delivered) {
        const at = acked.get(m.properties.seq!);
        if (at !== undefined) expect((m.id as unknown as { offset: bigint }).offset).toBe(at);
      }
      expect(failed.size + acked.size).toBe(seq);
      await wal.close();
    } finally {
      await opener.close();
    }
  }, 240_000);

  test("broker down at open: UNAVAILABLE, or TIMEOUT from connectTimeoutMs (not a later step's bound)", async () => {
    const opener = await adapter(driver).build();
    try {
      await kafka.restart({
        whileDown: async () => {
          const error = await opener.open({ channel: pchannel(uniqueChannel('down'), 1n) }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(WalError.is(error), String(error)).toBe(true);
          const { code, details } = error as WalError;
          expect(['UNAVAILABLE', 'TIMEOUT'], String(error)).toContain(code);
          // The reachability check answers: a TIMEOUT carries its bound, connectTimeoutMs (3 s), and not
          // operationTimeoutMs (8 s) of the topic and producer steps after it.
          if (code === 'TIMEOUT') expect(details.timeoutMs, String(error)).toBe(3_000);
        },
      });
      // And once it is back, the same opener opens fine.
      const wal = await opener.open({ channel: pchannel(uniqueChannel('back'), 1n) });
      await wal.append(message(1));
      await wal.close();
    } finally {
      await opener.close();
    }
  }, 120_000);
});
