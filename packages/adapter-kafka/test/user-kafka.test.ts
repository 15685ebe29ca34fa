import { kafkaAdapter } from '@walstream/adapter-kafka';
import { DeliverPolicy, pchannel } from '@walstream/core';
import { Kafka, logLevel } from 'kafkajs';
import { beforeEach, expect, test } from 'vitest';
import { bootstrap, message, showBrokerLogOnFailure, uniqueChannel } from './helpers.js';

beforeEach(() => showBrokerLogOnFailure());

test('a caller-configured kafkajs Kafka instance is used as is', async () => {
  // Typed as kafkajs's own class: the adapter's KafkaJsKafka surface must accept it without a cast.
  const kafka = new Kafka({ clientId: 'my-app', brokers: [bootstrap()], logLevel: logLevel.NOTHING });
  const opener = await kafkaAdapter({ driver: 'kafkajs', kafka }).build();
  try {
    const wal = await opener.open({ channel: pchannel(uniqueChannel('userkafka'), 1n) });
    const id = await wal.append(message(1));
    const scanner = await wal.read({ name: 'user', deliverPolicy: DeliverPolicy.startFrom(id) });
    for await (const delivered of scanner) {
      expect(delivered.properties.seq).toBe('1');
      expect(delivered.id.compare(id)).toBe(0);
      break;
    }
  } finally {
    await opener.close();
  }
});

test('a kafkajs instance with another driver is rejected INVALID_ARGUMENT', () => {
  const kafka = new Kafka({ clientId: 'x', brokers: [bootstrap()] });
  expect(() => kafkaAdapter({ driver: 'platformatic', kafka })).toThrow(
    expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
  );
});
