/**
 * Option checks: pure, no broker is contacted (kafkaAdapter() only checks; build() connects), so this
 * file runs in the broker-free adapter-kafka-unit project (see vitest.config.ts).
 */
import { type KafkaAdapterOptions, kafkaAdapter } from '@walstream/adapter-kafka';
import { WalError } from '@walstream/core';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, test } from 'vitest';

const base = { driver: 'platformatic', brokers: ['127.0.0.1:9'] } as const;

/** The INVALID_ARGUMENT that `options` get, checked to name `option` in its text and in `details.option`. */
function rejected(options: unknown, option: string): WalError {
  let caught: unknown;
  try {
    kafkaAdapter(options as KafkaAdapterOptions);
  } catch (error) {
    caught = error;
  }
  expect(WalError.is(caught), `expected kafkaAdapter to throw for ${option}`).toBe(true);
  const error = caught as WalError;
  expect(error.code).toBe('INVALID_ARGUMENT');
  expect(error.retriable).toBe(false);
  expect(error.details.option).toBe(option);
  expect(error.message).toContain(option);
  expect(error.message).toContain('kafkaAdapter');
  return error;
}

describe('kafkaAdapter options', () => {
  test('an unknown key is rejected, naming it and listing the known ones', () => {
    const error = rejected({ ...base, compresion: 'lz4' }, 'compresion');
    expect(error.message).toContain('maxBatchBytes');
    rejected({ ...base, fetchMaxWaitMS: 100 }, 'fetchMaxWaitMS');
  });

  test('the removed `logger` option says where a logger goes now', () => {
    const error = rejected({ ...base, logger: console }, 'logger');
    expect(error.message).toContain('createWal({ logger })');
  });

  test('bad values name their option', () => {
    rejected({ ...base, driver: 'librdkafka' }, 'driver');
    rejected({ brokers: base.brokers }, 'driver');
    rejected({ ...base, fencing: 'exclusive' }, 'fencing');
    rejected({ ...base, brokers: '127.0.0.1:9092' }, 'brokers');
    rejected({ driver: 'kafkajs' }, 'brokers');
    rejected({ ...base, kafka: {} }, 'kafka');
    rejected({ ...base, clientId: 7 }, 'clientId');
    rejected({ ...base, replicationFactor: 0 }, 'replicationFactor');
    rejected({ ...base, minInsyncReplicas: 1.5 }, 'minInsyncReplicas');
    rejected({ ...base, transactionTimeoutMs: '10s' }, 'transactionTimeoutMs');
    rejected({ ...base, takeoverGraceMs: -1 }, 'takeoverGraceMs');
    rejected({ ...base, topicConfig: 'compact' }, 'topicConfig');
    rejected({ ...base, topicConfig: { 'retention.ms': 1000 } }, 'topicConfig.retention.ms');
    rejected({ ...base, compression: 'brotli' }, 'compression');
  });

  test.each(['kafkajs', 'platformatic'] as const)('takeoverGraceMs must be an integer ≥ 0 (%s)', (driver) => {
    for (const bad of [-1, 1.5, Number.NaN, '0']) {
      rejected({ driver, brokers: base.brokers, takeoverGraceMs: bad }, 'takeoverGraceMs');
    }
  });

  test('a kafkajs Kafka instance with the platformatic driver is rejected, naming `kafka`', () => {
    // Constructing a kafkajs client does not connect.
    const kafka = new Kafka({ clientId: 'x', brokers: [...base.brokers], logLevel: logLevel.NOTHING });
    rejected({ driver: 'platformatic', kafka }, 'kafka');
  });

  test('good values are accepted', () => {
    expect(kafkaAdapter({ ...base, replicationFactor: -1, takeoverGraceMs: 0 }).driver).toBe('platformatic');
    expect(kafkaAdapter({ ...base, fencing: 'none' }).capabilities.fencing).toBe(false);
    expect(kafkaAdapter({ ...base, topicConfig: { 'retention.ms': '1000' }, clientId: 'me' }).name).toBe(
      'kafka',
    );
  });
});
