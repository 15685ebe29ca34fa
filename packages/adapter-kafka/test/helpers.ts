import { readFileSync } from 'node:fs';
import { type KafkaAdapterOptions, type KafkaDriverName, kafkaAdapter } from '@walstream/adapter-kafka';
import { MutableMessage } from '@walstream/core';
import { Kafka, logLevel } from 'kafkajs';
import { inject, onTestFailed } from 'vitest';

export const DRIVERS: readonly KafkaDriverName[] = ['kafkajs', 'platformatic'];

export function bootstrap(): string {
  return inject('kafkaBootstrap');
}

/** An adapter on the run's broker. */
export function adapterFor(driver: KafkaDriverName, extra: Partial<KafkaAdapterOptions> = {}) {
  return kafkaAdapter({ driver, brokers: [bootstrap()], ...extra });
}

/** Prints the tail of a broker's log when the current test fails. */
export function showBrokerLogOnFailure(logFile: string = inject('kafkaLogFile')): void {
  onTestFailed(() => {
    try {
      const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n');
      console.error(`--- broker log tail (${logFile}) ---\n${lines.slice(-60).join('\n')}`);
    } catch {
      // The broker's work dir may be gone already.
    }
  });
}

let counter = 0;
/** A pchannel name no other test uses. */
export function uniqueChannel(label: string): string {
  return `t-${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

export function message(seq: number, extra: Record<string, string> = {}): MutableMessage {
  return new MutableMessage(Buffer.from(`payload-${seq}`), { seq: String(seq), ...extra });
}

export { waitFor } from '@walstream/testkit';

/**
 * `promise`, or a rejection naming `what` once `timeoutMs` passed; the timer is cleared either way, so
 * nothing keeps running after the test.
 */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A producer of the pchannel's transactional id that bumps the producer epoch (InitProducerId), as a
 * stale node past its stamp check would: the owner's producer is fenced until it takes the epoch back.
 * Disconnect it when done.
 */
export async function stealProducerEpoch(pchannel: string): Promise<{ disconnect(): Promise<void> }> {
  const thief = new Kafka({ clientId: 'thief', brokers: [bootstrap()], logLevel: logLevel.NOTHING }).producer(
    {
      transactionalId: `walstream-wal-${pchannel}`,
      idempotent: true,
      maxInFlightRequests: 1,
    },
  );
  await thief.connect();
  await (await thief.transaction()).abort();
  return thief;
}
