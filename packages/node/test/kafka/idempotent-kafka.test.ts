/**
 * Idempotent appends on the run's real Kafka broker: the producer id and sequence survive the trip
 * through Kafka record headers, and a WAL at a newer term (which fenced the older one) reads its window
 * back from the topic.
 */
import { kafkaAdapter } from '@walstream/adapter-kafka';
import {
  createWal,
  MemoryCatalog,
  MutableMessage,
  messageIdEquals,
  pchannel,
  type Wal,
  type WalOpener,
} from '@walstream/core';
import { noObservability } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { IdempotentAppends, resolveIdempotence } from '../../src/dedup/index.js';

const bootstrap = inject('kafkaBootstrap');
const prefix = `idem-${process.pid}-${Date.now().toString(36)}-`;
const openers: WalOpener[] = [];

afterEach(async () => {
  for (const opener of openers.splice(0)) await opener.close();
});

/** One opener per "node", each with its own Kafka clients, over one catalog. */
async function openAt(catalog: MemoryCatalog, term: bigint): Promise<Wal> {
  const opener = await createWal({ catalog })
    .adapter(kafkaAdapter({ driver: 'kafkajs', brokers: [bootstrap], topicPrefix: prefix }))
    .use(...walSemantics())
    .build();
  openers.push(opener);
  return opener.open({ channel: pchannel('idem', term) });
}

function note(n: number): MutableMessage {
  return new MutableMessage(new Uint8Array([n]), { seq: String(n), _t: '3001' }).withVChannel('idem_v0');
}

describe('idempotent appends on Kafka', () => {
  it('a WAL at the next term answers a repeat with the result the fenced term gave, read from the topic', async () => {
    const catalog = new MemoryCatalog();
    const first = await openAt(catalog, 1n);
    await first.append(createVChannel('idem_v0'));
    const before = new IdempotentAppends(resolveIdempotence('test', undefined), noObservability);
    const original = await before.append(first, note(1), { producerId: 'k', sequence: 1n });

    const second = await openAt(catalog, 2n);
    const after = new IdempotentAppends(resolveIdempotence('test', undefined), noObservability);
    const repeat = await after.append(second, note(1), { producerId: 'k', sequence: 1n });
    expect(messageIdEquals(repeat.messageId, original.messageId)).toBe(true);
    expect(repeat.timeTick).toBe(original.timeTick);
    const fresh = await after.append(second, note(2), { producerId: 'k', sequence: 2n });
    expect(fresh.timeTick).toBeGreaterThan(original.timeTick);
    expect(after.stats()).toEqual({ duplicates: 1, rebuilds: 1 });
  }, 60_000);
});
