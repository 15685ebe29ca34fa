import { kafkaAdapter } from '@walstream/adapter-kafka';
import { DeliverPolicy, type ImmutableMessage, pchannel } from '@walstream/core';
import { Kafka, logLevel } from 'kafkajs';
import { beforeEach, expect, test } from 'vitest';
import { bootstrap, message, showBrokerLogOnFailure, uniqueChannel } from './helpers.js';

beforeEach(() => showBrokerLogOnFailure());

// The check that a kafkajs instance needs driver 'kafkajs' is broker-free: test/unit/options.test.ts.
test('a caller-configured kafkajs Kafka instance is used as is', async () => {
  // Typed as kafkajs's own class: the adapter's KafkaJsKafka surface must accept it without a cast.
  const kafka = new Kafka({ clientId: 'my-app', brokers: [bootstrap()], logLevel: logLevel.NOTHING });
  const opener = await kafkaAdapter({ driver: 'kafkajs', kafka }).build();
  try {
    const wal = await opener.open({ channel: pchannel(uniqueChannel('userkafka'), 1n) });
    const id = await wal.append(message(1));
    const scanner = await wal.read({ name: 'user', deliverPolicy: DeliverPolicy.startFrom(id) });
    let first: ImmutableMessage | undefined;
    for await (const delivered of scanner) {
      first = delivered;
      break;
    }
    // Checked after the loop: a scanner that ended without a message fails here.
    expect(first?.properties.seq).toBe('1');
    expect(first?.id.compare(id)).toBe(0);
  } finally {
    await opener.close();
  }
});
