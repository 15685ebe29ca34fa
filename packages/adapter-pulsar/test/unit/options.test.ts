/**
 * Option checks: pure, no broker is contacted (pulsarAdapter() only checks; build() connects). The
 * project's global setup still starts the run's Pulsar for this file (see vitest.config.ts).
 */
import { WalError } from '@walstream/core';
import { describe, expect, test } from 'vitest';
import { type PulsarAdapterOptions, pulsarAdapter } from '../../src/index.js';

const base = { serviceUrl: 'pulsar://127.0.0.1:6650', adminUrl: 'http://127.0.0.1:8080' } as const;

/** The INVALID_ARGUMENT that `options` get, checked to name `option` in its text and in `details.option`. */
function rejected(options: unknown, option: string): WalError {
  let caught: unknown;
  try {
    pulsarAdapter(options as PulsarAdapterOptions);
  } catch (error) {
    caught = error;
  }
  expect(WalError.is(caught), `expected pulsarAdapter to throw for ${option}`).toBe(true);
  const error = caught as WalError;
  expect(error.code).toBe('INVALID_ARGUMENT');
  expect(error.retriable).toBe(false);
  expect(error.details.option).toBe(option);
  expect(error.message).toContain(option);
  expect(error.message).toContain('pulsarAdapter');
  return error;
}

describe('pulsarAdapter options', () => {
  test('an unknown key is rejected, naming it and listing the known ones', () => {
    const error = rejected({ ...base, compresion: 'lz4' }, 'compresion');
    expect(error.message).toContain('maxPendingMessages');
  });

  test('unknown keys of the nested connection and backoff options are rejected with their path', () => {
    rejected({ ...base, connection: { connectTimeout: 1000 } }, 'connection.connectTimeout');
    rejected({ ...base, backoff: { initialMS: 10 } }, 'backoff.initialMS');
    rejected({ ...base, connection: 'fast' }, 'connection');
  });

  test('bad values name their option', () => {
    rejected({ adminUrl: base.adminUrl }, 'serviceUrl');
    rejected({ ...base, serviceUrl: 'pulsar+ssl://127.0.0.1:6651' }, 'serviceUrl');
    rejected({ ...base, adminUrl: '127.0.0.1:8080' }, 'adminUrl');
    rejected({ ...base, tenant: '' }, 'tenant');
    rejected({ ...base, createTopics: 'yes' }, 'createTopics');
    rejected({ ...base, maxPendingMessages: 0 }, 'maxPendingMessages');
    rejected({ ...base, operationTimeoutMs: 1.5 }, 'operationTimeoutMs');
    rejected({ ...base, connection: { keepAliveMs: -1 } }, 'connection.keepAliveMs');
    rejected({ ...base, backoff: { initialMs: 500, maxMs: 100 } }, 'backoff.maxMs');
    rejected({ ...base, compression: 'gzip' }, 'compression');
    rejected({ ...base, maxChunkedMessageBytes: 0 }, 'maxChunkedMessageBytes');
  });

  test('good values are accepted', () => {
    const adapter = pulsarAdapter({
      ...base,
      tenant: 'public',
      createTopics: false,
      compression: 'zstd',
      maxChunkedMessageBytes: 1 << 20,
      connection: { connectTimeoutMs: 2_000 },
      backoff: { initialMs: 50, maxMs: 1_000 },
    });
    expect(adapter.name).toBe('pulsar');
    expect(adapter.options.createTopics).toBe(false);
  });
});
