import { randomUUID } from 'node:crypto';
import { type Logger, WalError } from '@walstream/core';
import { delay } from '@walstream/core/internal';
import type { Observability } from '@walstream/core/spi';
import { installKafkaJsCodecs } from '../codecs/drivers.js';
import { KAFKA_COMPRESSION_BITS, prepareCompression } from '../codecs/index.js';
import type { ResolvedOptions } from '../options.js';
import { errorMessage } from '../util.js';
import { classifyChain } from './classify.js';
import type {
  KafkaJsAdmin,
  KafkaJsConsumedMessage,
  KafkaJsHeaderValue,
  KafkaJsKafka,
  KafkaJsLogEntry,
  KafkaJsModule,
  KafkaJsProducer,
  KafkaJsRecordMetadata,
  KafkaJsTransaction,
} from './kafkajs-types.js';
import type {
  ConsumeHandlers,
  DriverWriter,
  FailureKind,
  InRecord,
  KafkaDriver,
  LogBounds,
  OutRecord,
  RecordHeader,
  TopicSpec,
  WriterSpec,
  WriteStage,
} from './types.js';

const TOPIC_RESOURCE = 2;
/**
 * Starts at 10 ms: the next transaction's AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS until the
 * previous commit is complete at the coordinator (a few ms), and kafkajs's default 300 ms first retry
 * would make every transaction wait for it. Doubling to 2 s over 18 tries still rides out a broker restart.
 */
const RETRY = { retries: 18, initialRetryTime: 10, maxRetryTime: 2_000 } as const;

const NETWORK_ERRORS = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSLockTimeout',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTimeout',
  // "Failed to find group coordinator": also thrown for the transaction coordinator while a restarted
  // broker is still loading __transaction_state. It passes; the next attempt finds it.
  'KafkaJSGroupCoordinatorNotFound',
]);

/** Everything goes to one partition: the adapter's topics have exactly one. */
const partitionZero = () => () => 0;

async function loadKafkaJs(): Promise<KafkaJsModule> {
  try {
    const loaded = (await import('kafkajs')) as unknown as KafkaJsModule & { default?: KafkaJsModule };
    return loaded.Kafka ? loaded : (loaded.default as KafkaJsModule);
  } catch (error) {
    throw new WalError(
      'INVALID_ARGUMENT',
      'kafkaAdapter driver "kafkajs" needs the kafkajs package: pnpm add kafkajs@2.2.4',
      { cause: error, retriable: false },
    );
  }
}

/** kafkajs's log lines, into the stack's logger (silent unless the stack was given one). */
function logCreator(logger: Logger) {
  return () =>
    ({ namespace, level, log }: KafkaJsLogEntry) => {
      const { message, ...rest } = log;
      const fields = { kafkajs: namespace, ...rest };
      // kafkajs levels: 1 ERROR, 2 WARN, 4 INFO, 5 DEBUG. Its ERRORs are mostly retried requests: warn.
      if (level <= 2) logger.warn(fields, message);
      else if (level === 4) logger.info(fields, message);
      else logger.debug(fields, message);
    };
}

export async function createKafkaJsDriver(
  options: ResolvedOptions,
  observability: Observability,
): Promise<KafkaDriver> {
  let kafka: KafkaJsKafka;
  if (options.kafka) {
    kafka = options.kafka;
    // The codecs live in the kafkajs module, not in the instance: the caller's copy is this one, as a rule.
    installKafkaJsCodecs(await loadKafkaJs().catch(() => undefined));
  } else {
    const module = await loadKafkaJs();
    installKafkaJsCodecs(module);
    kafka = new module.Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      connectionTimeout: Math.min(options.connectTimeoutMs, 3_000),
      requestTimeout: options.operationTimeoutMs,
      retry: RETRY,
      logLevel: module.logLevel.INFO,
      logCreator: logCreator(observability.logger.child({ component: 'kafkajs' })),
    });
  }
  await prepareCompression(options.compression);
  return new KafkaJsDriver(kafka, options, observability);
}

function toHeaders(headers: Record<string, KafkaJsHeaderValue> | undefined): RecordHeader[] {
  const out: RecordHeader[] = [];
  if (!headers) return out;
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    // kafkajs folds repeated keys into an array; walstream writes each key once, so the last one wins.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last === undefined) continue;
    out.push([key, typeof last === 'string' ? Buffer.from(last) : last]);
  }
  return out;
}

function toInRecord(message: KafkaJsConsumedMessage): InRecord {
  return {
    offset: BigInt(message.offset),
    value: message.value ?? Buffer.alloc(0),
    headers: toHeaders(message.headers),
  };
}

function toMessages(records: readonly OutRecord[]) {
  return records.map((record) => ({
    partition: 0,
    value: record.value,
    headers: Object.fromEntries(record.headers),
  }));
}

function baseOffset(result: KafkaJsRecordMetadata[], topic: string): bigint {
  const entry = result.find((r) => r.topicName === topic && r.partition === 0);
  if (!entry?.baseOffset) throw new WalError('UNAVAILABLE', `kafkajs returned no offset for ${topic}`);
  return BigInt(entry.baseOffset);
}

class KafkaJsDriver implements KafkaDriver {
  readonly kind = 'kafkajs' as const;
  readonly #kafka: KafkaJsKafka;
  readonly #options: ResolvedOptions;
  readonly #observability: Observability;
  #admin: Promise<KafkaJsAdmin> | undefined;
  #adminClientObject: KafkaJsAdmin | undefined;
  #closed = false;
  /** Deletions of scanner groups still running; `close` waits for them before disconnecting. */
  readonly #cleanups = new Set<Promise<unknown>>();

  constructor(kafka: KafkaJsKafka, options: ResolvedOptions, observability: Observability) {
    this.#kafka = kafka;
    this.#options = options;
    this.#observability = observability;
  }

  #closedError(): WalError {
    return new WalError('CLOSED', 'kafka driver is closed', { retriable: false });
  }

  #adminClient(): Promise<KafkaJsAdmin> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (!this.#admin) {
      const admin = this.#kafka.admin({ retry: RETRY });
      this.#adminClientObject = admin;
      this.#admin = admin.connect().then(
        () => admin,
        (error: unknown) => {
          this.#admin = undefined;
          throw error;
        },
      );
    }
    return this.#admin;
  }

  async ping(): Promise<void> {
    const admin = await this.#adminClient();
    await admin.fetchTopicMetadata({ topics: [] });
  }

  async ensureTopic(topic: string, spec: TopicSpec): Promise<void> {
    const admin = await this.#adminClient();
    try {
      await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: 1,
            replicationFactor: spec.replicationFactor,
            configEntries: Object.entries(spec.configs).map(([name, value]) => ({ name, value })),
          },
        ],
        waitForLeaders: true,
        timeout: this.#options.operationTimeoutMs,
      });
    } catch (error) {
      if (this.classify(error) !== 'topicExists') throw error;
    }
  }

  async maxMessageBytes(topic: string): Promise<number | undefined> {
    const admin = await this.#adminClient();
    const described = await admin.describeConfigs({
      resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
      includeSynonyms: false,
    });
    const value = described.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes');
    return value?.configValue ? Number(value.configValue) : undefined;
  }

  async bounds(topic: string): Promise<LogBounds> {
    const admin = await this.#adminClient();
    const offsets = await admin.fetchTopicOffsets(topic);
    const partition = offsets.find((o) => o.partition === 0);
    if (!partition) throw new WalError('UNAVAILABLE', `no offsets for partition 0 of ${topic}`);
    // kafkajs lists with read_committed, so `high` is the last stable offset.
    return { start: BigInt(partition.low), end: BigInt(partition.high) };
  }

  async lastStable(topic: string): Promise<bigint> {
    // kafkajs's admin lists both ends in one call; there is no cheaper single request.
    return (await this.bounds(topic)).end;
  }

  async deleteRecords(topic: string, before: bigint): Promise<void> {
    const admin = await this.#adminClient();
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: before.toString() }] });
  }

  writer(spec: WriterSpec): DriverWriter {
    if (this.#closed) throw this.#closedError();
    return new KafkaJsWriter(this.#kafka, this.#options, spec, this.#observability.logger);
  }

  async consume(
    topic: string,
    name: string,
    from: bigint,
    handlers: ConsumeHandlers,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) return;
    if (this.#closed) throw this.#closedError();
    // kafkajs has no manual assignment: a fresh single-member group per scanner, positioned by seek and
    // never committed, stands in for it (Milvus does the same with librdkafka's group.id = scanner name).
    const groupId = `${this.#options.consumerGroupPrefix}${name}-${randomUUID()}`;
    const consumer = this.#kafka.consumer({
      groupId,
      maxWaitTimeInMs: this.#options.fetchMaxWaitMs,
      minBytes: 1,
      maxBytes: this.#options.fetchMaxBytes,
      maxBytesPerPartition: this.#options.fetchMaxBytes,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      retry: RETRY,
    });
    let next = from;
    let failure: unknown;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    signal.addEventListener('abort', () => finish(), { once: true });
    const seek = () => consumer.seek({ topic, partition: 0, offset: next.toString() });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      // After a rebalance (session lost during an outage) the group has no committed offset and would
      // restart from the beginning: put it back where this scanner is.
      consumer.on(consumer.events.GROUP_JOIN, () => {
        if (!signal.aborted) seek();
      });
      // Batches of only markers or aborted records skip eachBatch; this event still reports the position.
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        const last = event.payload.lastOffset;
        if (!handlers.onProgress || last === undefined || last === null) return;
        const position = BigInt(last) + 1n;
        if (position > next) next = position;
        if (!handlers.onProgress(next)) finish();
      });
      consumer.on(consumer.events.CRASH, (event) => {
        if (event.payload.restart) {
          handlers.onRetry?.(event.payload.error);
          return;
        }
        failure = event.payload.error ?? new Error('kafkajs consumer crashed');
        finish();
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          if (signal.aborted || !isRunning() || isStale()) return;
          const records = batch.messages.map(toInRecord).filter((record) => record.offset >= next);
          if (records.length > 0) {
            const more = await withHeartbeats(handlers.onRecords(records), heartbeat);
            next = records[records.length - 1]!.offset + 1n;
            if (!more) {
              finish();
              return;
            }
          }
          if (batch.messages.length > 0) resolveOffset(batch.lastOffset());
        },
      });
      try {
        seek();
      } catch {
        // run() resolved before the group was set up: the GROUP_JOIN listener seeks instead, and records
        // fetched before that are below `next` and skipped.
      }
      await finished;
    } finally {
      await consumer.disconnect().catch(() => undefined);
      // The group never committed anything; drop its empty metadata so groups do not pile up.
      if (!this.#closed) {
        const cleanup = this.#adminClient()
          .then((admin) => admin.deleteGroups([groupId]))
          .catch((error: unknown) => {
            // Best effort: an empty group without members expires on the broker anyway.
            this.#observability.logger.debug(
              { groupId, error: errorMessage(error) },
              'could not delete a kafkajs scanner group',
            );
          })
          .finally(() => this.#cleanups.delete(cleanup));
        this.#cleanups.add(cleanup);
      }
    }
    if (failure !== undefined && !signal.aborted) throw failure;
  }

  classify(error: unknown): FailureKind {
    return classifyChain(error, (link) => NETWORK_ERRORS.has((link as { name?: string }).name ?? ''));
  }

  async close(): Promise<void> {
    // Closed first: nothing new starts (an open or read racing the close gets CLOSED, and leaks nothing).
    this.#closed = true;
    await Promise.race([Promise.all(this.#cleanups), delay(2_000)]);
    const admin = this.#adminClientObject;
    this.#admin = undefined;
    this.#adminClientObject = undefined;
    // Not awaiting a connect that may still be retrying against a dead broker: close stays bounded.
    if (admin) await Promise.race([admin.disconnect().catch(() => undefined), delay(1_000)]);
  }
}

/** Waits for `work`, sending group heartbeats meanwhile so a slow consumer does not lose its session. */
async function withHeartbeats<T>(work: Promise<T>, heartbeat: () => Promise<void>): Promise<T> {
  let settled = false;
  const result = work.finally(() => {
    settled = true;
  });
  while (!settled) {
    const done = await Promise.race([result.then(() => true), delay(1_000).then(() => false)]);
    if (done) break;
    await heartbeat().catch(() => undefined);
  }
  return result;
}

class KafkaJsWriter implements DriverWriter {
  readonly #kafka: KafkaJsKafka;
  readonly #options: ResolvedOptions;
  readonly #spec: WriterSpec;
  readonly #logger: Logger;
  #producer: KafkaJsProducer | undefined;
  /** The transaction begun by `init` (its InitProducerId is the fence); used by the first write. */
  #pending: KafkaJsTransaction | undefined;

  constructor(kafka: KafkaJsKafka, options: ResolvedOptions, spec: WriterSpec, logger: Logger) {
    this.#kafka = kafka;
    this.#options = options;
    this.#spec = spec;
    this.#logger = logger;
  }

  async init(): Promise<void> {
    const producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: partitionZero,
      ...(this.#spec.transactionalId
        ? {
            transactionalId: this.#spec.transactionalId,
            transactionTimeout: this.#options.transactionTimeoutMs,
          }
        : {}),
    });
    this.#producer = producer;
    await producer.connect();
    if (this.#spec.transactionalId) this.#pending = await producer.transaction();
  }

  async write(
    batches: readonly (readonly OutRecord[])[],
    onStage?: (stage: WriteStage) => void,
  ): Promise<bigint[]> {
    const producer = this.#producer;
    if (!producer) throw new WalError('UNAVAILABLE', 'kafkajs writer is not initialized');
    const request = (records: readonly OutRecord[]) => ({
      topic: this.#spec.topic,
      acks: -1,
      timeout: this.#options.operationTimeoutMs,
      messages: toMessages(records),
      ...(this.#options.compression === 'none'
        ? {}
        : { compression: KAFKA_COMPRESSION_BITS[this.#options.compression] }),
    });
    const offsets: bigint[] = [];
    if (!this.#spec.transactionalId) {
      for (const batch of batches)
        offsets.push(baseOffset(await producer.send(request(batch)), this.#spec.topic));
      return offsets;
    }
    const txn = this.#pending ?? (await producer.transaction());
    this.#pending = undefined;
    try {
      for (const batch of batches) offsets.push(baseOffset(await txn.send(request(batch)), this.#spec.topic));
      onStage?.('sent');
      const committed = txn.commit();
      onStage?.('committing');
      await committed;
      return offsets;
    } catch (error) {
      if (txn.isActive()) await txn.abort().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (this.#pending?.isActive()) await this.#pending.abort().catch(() => undefined);
    this.#pending = undefined;
    await producer?.disconnect().catch((error: unknown) => {
      this.#logger.debug({ error: errorMessage(error) }, 'kafkajs producer disconnect failed');
    });
  }
}
