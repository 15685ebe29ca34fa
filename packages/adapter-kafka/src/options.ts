import { WalError } from '@walstream/core';
import type { KafkaJsKafka } from './driver/kafkajs-types.js';
import type { KafkaAdapterLogger } from './util.js';

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
  readonly logger?: KafkaAdapterLogger;
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
  readonly logger: KafkaAdapterLogger | undefined;
}

/** `value` (or `fallback` when absent), which must be an integer ≥ `min`. */
function integer(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `kafkaAdapter: ${name} must be an integer ≥ ${min}, got ${String(value)}`,
    );
  }
  return value;
}

export function resolveOptions(options: KafkaAdapterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new WalError('INVALID_ARGUMENT', 'kafkaAdapter needs options ({ driver, brokers })');
  }
  if (options.driver !== 'kafkajs' && options.driver !== 'platformatic') {
    throw new WalError(
      'INVALID_ARGUMENT',
      `kafkaAdapter: driver must be "kafkajs" or "platformatic", got ${JSON.stringify(options.driver)}`,
    );
  }
  if (options.kafka && options.driver !== 'kafkajs') {
    throw new WalError('INVALID_ARGUMENT', 'kafkaAdapter: a kafkajs `kafka` instance needs driver "kafkajs"');
  }
  const brokers = options.brokers ?? [];
  if (!options.kafka && brokers.length === 0) {
    throw new WalError(
      'INVALID_ARGUMENT',
      'kafkaAdapter: pass `brokers` (host:port list) or a kafkajs `kafka`',
    );
  }
  const fencing = options.fencing ?? 'transactional';
  if (fencing !== 'transactional' && fencing !== 'none') {
    throw new WalError('INVALID_ARGUMENT', `kafkaAdapter: fencing must be "transactional" or "none"`);
  }
  const replicationFactor = options.replicationFactor ?? 1;
  if (!Number.isInteger(replicationFactor) || (replicationFactor < 1 && replicationFactor !== -1)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      'kafkaAdapter: replicationFactor must be ≥ 1 or -1 (broker default)',
    );
  }
  return {
    driver: options.driver,
    brokers: [...brokers],
    kafka: options.kafka,
    clientId: options.clientId ?? 'walstream',
    topicPrefix: options.topicPrefix ?? '',
    replicationFactor,
    minInsyncReplicas:
      options.minInsyncReplicas === undefined
        ? undefined
        : integer('minInsyncReplicas', options.minInsyncReplicas, 1),
    topicConfig: { 'retention.ms': '-1', ...options.topicConfig },
    fencing,
    transactionalIdPrefix: options.transactionalIdPrefix ?? 'walstream-wal-',
    transactionTimeoutMs: integer('transactionTimeoutMs', options.transactionTimeoutMs, 10_000),
    connectTimeoutMs: integer('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    operationTimeoutMs: integer('operationTimeoutMs', options.operationTimeoutMs, 30_000),
    readRetryTimeoutMs: integer('readRetryTimeoutMs', options.readRetryTimeoutMs, 120_000),
    takeoverGraceMs: integer('takeoverGraceMs', options.takeoverGraceMs, 1_000, 0),
    maxBatchBytes: integer('maxBatchBytes', options.maxBatchBytes, 1 << 20),
    maxBatchMessages: integer('maxBatchMessages', options.maxBatchMessages, 4096),
    maxTransactionBatches: integer('maxTransactionBatches', options.maxTransactionBatches, 16),
    fetchMaxWaitMs: integer('fetchMaxWaitMs', options.fetchMaxWaitMs, 500),
    fetchMaxBytes: integer('fetchMaxBytes', options.fetchMaxBytes, 1 << 20),
    consumerGroupPrefix: options.consumerGroupPrefix ?? 'walstream-scan-',
    logger: options.logger,
  };
}
