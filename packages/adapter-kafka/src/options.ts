import { WalError } from '@walstream/core';
import { checkKnownKeys, integerOption, oneOfOption, stringOption } from '@walstream/core/internal';
import type { KafkaCompression } from './codecs/index.js';
import type { KafkaJsKafka } from './driver/kafkajs-types.js';

export type KafkaDriverName = 'kafkajs' | 'platformatic';

/**
 * `transactional`: every append batch is a Kafka transaction of one producer per pchannel with a fixed
 * transactional id, so a newer owner's InitProducerId fences older writers (see docs/adapter-kafka.md).
 * `none`: an idempotent producer, as Milvus does; no fencing, faster.
 */
export type KafkaFencingMode = 'transactional' | 'none';

export interface KafkaAdapterOptions {
  /** Which client library talks to Kafka. Both are optional peer dependencies, loaded on `build()`. */
  readonly driver: KafkaDriverName;
  /** `host:port` bootstrap addresses. Required unless `kafka` (a configured kafkajs instance) is given. */
  readonly brokers?: readonly string[];
  /** A kafkajs `Kafka` instance configured by the caller (SASL, TLS, logging); driver `kafkajs` only. */
  readonly kafka?: KafkaJsKafka;
  /** Default `walstream`. */
  readonly clientId?: string;
  /** Topic of a pchannel = prefix + pchannel name. Default ''. */
  readonly topicPrefix?: string;
  /** Replication factor of topics created on open. Default 1; -1 takes the broker's default. */
  readonly replicationFactor?: number;
  /** `min.insync.replicas` of topics created on open (with acks=all, the durability floor). */
  readonly minInsyncReplicas?: number;
  /**
   * More topic configs for topics created on open. Default `{ 'retention.ms': '-1' }`: a WAL is reclaimed
   * by `truncate` (DeleteRecords), not by time.
   */
  readonly topicConfig?: Readonly<Record<string, string>>;
  /** Default `transactional`. */
  readonly fencing?: KafkaFencingMode;
  /** Transactional id = prefix + topic. Default `walstream-wal-`. */
  readonly transactionalIdPrefix?: string;
  /** Broker-side timeout of one append transaction (an orphaned one blocks readers this long). Default 10 s. */
  readonly transactionTimeoutMs?: number;
  /** Bound on `build()` and on each `open()` when the broker cannot be reached. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Bound on one append or truncate including the client's retries. Default 30 s. */
  readonly operationTimeoutMs?: number;
  /** How long a scanner rides out a broker outage before it fails UNAVAILABLE. Default 120 s. */
  readonly readRetryTimeoutMs?: number;
  /**
   * `fencing: 'transactional'`: how long a writer whose producer epoch was taken waits for a newer
   * term's open marker before it takes the epoch back (see docs, "Epoch steals"). Longer rides out slower
   * takeovers; shorter resumes sooner after a stale opener or a broker restart. 0 = no wait. Default 1 s.
   */
  readonly takeoverGraceMs?: number;
  /** Largest append batch (estimated record-batch bytes); also capped by the topic's max.message.bytes. Default 1 MiB. */
  readonly maxBatchBytes?: number;
  /** Most messages per append batch. Default 4096. */
  readonly maxBatchMessages?: number;
  /**
   * Group commit (`fencing: 'transactional'`): most append batches (produce requests) one transaction
   * carries. Appends that queue while a transaction is open join it, up to this cap. Default 16.
   */
  readonly maxTransactionBatches?: number;
  /** Longest a fetch waits at the end of the log. Default 500 ms (also bounds scanner close). */
  readonly fetchMaxWaitMs?: number;
  /** Bytes one fetch may return. Default 1 MiB: with the read-ahead size, the scanner's memory bound. */
  readonly fetchMaxBytes?: number;
  /** kafkajs scanners join a fresh consumer group named prefix + scanner name + random suffix. */
  readonly consumerGroupPrefix?: string;
  /**
   * Codec of the record batches this adapter produces: `none` (default), `gzip`, `snappy`, `lz4` or
   * `zstd`, on both drivers and in pure JavaScript or WebAssembly. Readers need no setting: every batch
   * names its codec and all of them are read. A topic's `compression.type` other than `producer`
   * recompresses on the broker whatever is sent.
   */
  readonly compression?: KafkaCompression;
}

export interface ResolvedOptions {
  readonly driver: KafkaDriverName;
  readonly brokers: readonly string[];
  readonly kafka: KafkaJsKafka | undefined;
  readonly clientId: string;
  readonly topicPrefix: string;
  readonly replicationFactor: number;
  readonly minInsyncReplicas: number | undefined;
  readonly topicConfig: Readonly<Record<string, string>>;
  readonly fencing: KafkaFencingMode;
  readonly transactionalIdPrefix: string;
  readonly transactionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly operationTimeoutMs: number;
  readonly readRetryTimeoutMs: number;
  readonly takeoverGraceMs: number;
  readonly maxBatchBytes: number;
  readonly maxBatchMessages: number;
  readonly maxTransactionBatches: number;
  readonly fetchMaxWaitMs: number;
  readonly fetchMaxBytes: number;
  readonly consumerGroupPrefix: string;
  readonly compression: KafkaCompression;
}

const WHERE = 'kafkaAdapter';

/** Every option of {@link KafkaAdapterOptions}: anything else is a misspelling and rejected. */
const KNOWN: readonly (keyof KafkaAdapterOptions)[] = [
  'driver',
  'brokers',
  'kafka',
  'clientId',
  'topicPrefix',
  'replicationFactor',
  'minInsyncReplicas',
  'topicConfig',
  'fencing',
  'transactionalIdPrefix',
  'transactionTimeoutMs',
  'connectTimeoutMs',
  'operationTimeoutMs',
  'readRetryTimeoutMs',
  'takeoverGraceMs',
  'maxBatchBytes',
  'maxBatchMessages',
  'maxTransactionBatches',
  'fetchMaxWaitMs',
  'fetchMaxBytes',
  'consumerGroupPrefix',
  'compression',
];

function invalid(option: string, message: string): WalError {
  return new WalError('INVALID_ARGUMENT', `${WHERE}: option ${option} ${message}`, {
    retriable: false,
    details: { option },
  });
}

/** `topicConfig`: topic-level Kafka configs, any name, every value a string as Kafka's admin API wants. */
function topicConfig(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('topicConfig', 'must be an object of Kafka topic configs');
  }
  for (const [key, config] of Object.entries(value)) {
    if (typeof config !== 'string') {
      throw invalid(`topicConfig.${key}`, `must be a string (as Kafka takes configs), got ${typeof config}`);
    }
  }
  return value as Record<string, string>;
}

/**
 * Checks every option (INVALID_ARGUMENT naming it; an unknown key included) and fills in the defaults.
 */
export function resolveOptions(options: KafkaAdapterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new WalError('INVALID_ARGUMENT', `${WHERE} needs options ({ driver, brokers })`, {
      retriable: false,
    });
  }
  if ('logger' in options) {
    // Removed in favour of the stack's observability; say where the logger goes now.
    throw invalid(
      'logger',
      'was removed: give the logger to the stack, createWal({ logger }), or to build({ observability })',
    );
  }
  checkKnownKeys(WHERE, options, KNOWN);
  if (options.driver === undefined) throw invalid('driver', 'is required: "kafkajs" or "platformatic"');
  const driver = oneOfOption(WHERE, 'driver', options.driver, ['kafkajs', 'platformatic'], 'platformatic');
  const kafka: unknown = options.kafka;
  if (kafka !== undefined) {
    if (
      typeof kafka !== 'object' ||
      kafka === null ||
      typeof (kafka as KafkaJsKafka).producer !== 'function'
    ) {
      throw invalid('kafka', 'must be a kafkajs Kafka instance');
    }
    if (driver !== 'kafkajs') throw invalid('kafka', '(a kafkajs Kafka instance) needs driver "kafkajs"');
  }
  const brokers: unknown = options.brokers ?? [];
  if (!Array.isArray(brokers) || !brokers.every((broker) => typeof broker === 'string' && broker !== '')) {
    throw invalid('brokers', 'must be a list of host:port strings');
  }
  if (kafka === undefined && brokers.length === 0) {
    throw invalid('brokers', 'is required (a host:port list) unless a kafkajs `kafka` instance is given');
  }
  const replicationFactor =
    options.replicationFactor === -1
      ? -1
      : integerOption(WHERE, 'replicationFactor', options.replicationFactor, 1, { min: 1 });
  const integer = (name: keyof KafkaAdapterOptions, fallback: number, min = 1) =>
    integerOption(WHERE, name, options[name], fallback, { min });
  return {
    driver,
    brokers: [...(brokers as string[])],
    kafka: kafka as KafkaJsKafka | undefined,
    clientId: stringOption(WHERE, 'clientId', options.clientId, 'walstream'),
    topicPrefix: stringOption(WHERE, 'topicPrefix', options.topicPrefix, ''),
    replicationFactor,
    minInsyncReplicas: options.minInsyncReplicas === undefined ? undefined : integer('minInsyncReplicas', 1),
    topicConfig: { 'retention.ms': '-1', ...topicConfig(options.topicConfig) },
    fencing: oneOfOption(WHERE, 'fencing', options.fencing, ['transactional', 'none'], 'transactional'),
    transactionalIdPrefix: stringOption(
      WHERE,
      'transactionalIdPrefix',
      options.transactionalIdPrefix,
      'walstream-wal-',
    ),
    transactionTimeoutMs: integer('transactionTimeoutMs', 10_000),
    connectTimeoutMs: integer('connectTimeoutMs', 10_000),
    operationTimeoutMs: integer('operationTimeoutMs', 30_000),
    readRetryTimeoutMs: integer('readRetryTimeoutMs', 120_000),
    takeoverGraceMs: integer('takeoverGraceMs', 1_000, 0),
    maxBatchBytes: integer('maxBatchBytes', 1 << 20),
    maxBatchMessages: integer('maxBatchMessages', 4096),
    maxTransactionBatches: integer('maxTransactionBatches', 16),
    fetchMaxWaitMs: integer('fetchMaxWaitMs', 500),
    fetchMaxBytes: integer('fetchMaxBytes', 1 << 20),
    consumerGroupPrefix: stringOption(
      WHERE,
      'consumerGroupPrefix',
      options.consumerGroupPrefix,
      'walstream-scan-',
    ),
    compression: oneOfOption(
      WHERE,
      'compression',
      options.compression,
      ['none', 'gzip', 'snappy', 'lz4', 'zstd'],
      'none',
    ),
  };
}
