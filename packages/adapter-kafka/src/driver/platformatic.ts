import { randomUUID } from 'node:crypto';
import { WalError } from '@walstream/core';
import { delay, retryWithBackoff } from '@walstream/core/internal';
import { installPlatformaticCodecs } from '../codecs/drivers.js';
import { codecFailure, prepareCompression } from '../codecs/index.js';
import type { ResolvedOptions } from '../options.js';
import { errorMessage } from '../util.js';
import { classifyChain, errorChain } from './classify.js';
import type {
  PltAdmin,
  PltBaseOptions,
  PltConsumer,
  PltFetchPartition,
  PltModule,
  PltProduceResult,
  PltProducer,
  PltTransaction,
} from './platformatic-types.js';
import type {
  ConsumeHandlers,
  DriverWriter,
  FailureKind,
  InRecord,
  KafkaDriver,
  LogBounds,
  OutRecord,
  TopicSpec,
  WriterSpec,
  WriteStage,
} from './types.js';

const TOPIC_RESOURCE = 2;
const READ_COMMITTED = 1;
const ACKS_ALL = -1;
const IS_TRANSACTIONAL = 0x10;
const IS_CONTROL = 0x20;
/**
 * InitProducerId must say "no expected producer": @platformatic/kafka 1.x sends 0/0 by default, which a
 * broker answers with PRODUCER_FENCED once another producer used the transactional id.
 */
const FRESH_PRODUCER = { producerId: -1n, producerEpoch: -1 } as const;

async function loadPlatformatic(): Promise<PltModule> {
  try {
    return (await import('@platformatic/kafka')) as unknown as PltModule;
  } catch (error) {
    throw new WalError(
      'INVALID_ARGUMENT',
      'kafkaAdapter driver "platformatic" needs @platformatic/kafka 1.x: pnpm add @platformatic/kafka@^1.35.0',
      { cause: error, retriable: false },
    );
  }
}

export async function createPlatformaticDriver(options: ResolvedOptions): Promise<KafkaDriver> {
  const module = await loadPlatformatic();
  installPlatformaticCodecs(module);
  await prepareCompression(options.compression);
  return new PlatformaticDriver(module, options);
}

/** True when the failure is CONCURRENT_TRANSACTIONS (the previous transaction is still completing). */
function concurrentTransactions(error: unknown): boolean {
  return errorChain(error).some((link) => {
    const fields = link as { apiCode?: unknown; apiId?: unknown };
    return fields.apiCode === 51 || fields.apiId === 'CONCURRENT_TRANSACTIONS';
  });
}

function networkish(link: object): boolean {
  const code = (link as { code?: unknown }).code;
  return code === 'PLT_KFK_NETWORK' || code === 'PLT_KFK_TIMEOUT';
}

/**
 * The committed data records of one fetched partition, from `from` on. @platformatic/kafka 1.x does not
 * drop aborted transactions, so this does what Java's CompletedFetch does: a transactional batch of a
 * producer listed in `abortedTransactions` (from its first offset on) is skipped until that producer's
 * abort marker.
 */
export function committedRecords(partition: PltFetchPartition, from: bigint): InRecord[] {
  const aborted = [...(partition.abortedTransactions ?? [])].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
  );
  const abortedProducers = new Set<bigint>();
  const out: InRecord[] = [];
  for (const batch of partition.records ?? []) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (aborted.length > 0 && aborted[0]!.firstOffset <= last)
      abortedProducers.add(aborted.shift()!.producerId);
    const transactional = (batch.attributes & IS_TRANSACTIONAL) !== 0;
    if ((batch.attributes & IS_CONTROL) !== 0) {
      // Control record key: int16 version, int16 type (0 = abort, 1 = commit).
      const key = batch.records[0]?.key;
      if (transactional && key && key.length >= 4 && key.readInt16BE(2) === 0) {
        abortedProducers.delete(batch.producerId);
      }
      continue;
    }
    if (transactional && abortedProducers.has(batch.producerId)) continue;
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta);
      if (offset < from) continue;
      const headers: [string, Buffer][] = [];
      for (const [key, value] of record.headers)
        if (key) headers.push([key.toString('utf8'), value ?? Buffer.alloc(0)]);
      out.push({ offset, value: record.value ?? Buffer.alloc(0), headers });
    }
  }
  return out;
}

/** The offset after the last batch of the fetch (control batches included), or undefined if none. */
function nextFetchOffset(partition: PltFetchPartition): bigint | undefined {
  const batches = partition.records ?? [];
  const last = batches[batches.length - 1];
  return last ? last.firstOffset + BigInt(last.lastOffsetDelta) + 1n : undefined;
}

class PlatformaticDriver implements KafkaDriver {
  readonly kind = 'platformatic' as const;
  readonly #module: PltModule;
  readonly #options: ResolvedOptions;
  readonly #base: PltBaseOptions;
  #admin: PltAdmin | undefined;
  #consumer: PltConsumer | undefined;
  /** Set by `close`: no client is made again afterwards (an open racing the close must not leak one). */
  #closed = false;

  constructor(module: PltModule, options: ResolvedOptions) {
    this.#module = module;
    this.#options = options;
    this.#base = {
      clientId: options.clientId,
      bootstrapBrokers: [...options.brokers],
      connectTimeout: Math.min(options.connectTimeoutMs, 3_000),
      requestTimeout: options.operationTimeoutMs,
      timeout: options.operationTimeoutMs,
      // A transaction's AddPartitionsToTxn gets CONCURRENT_TRANSACTIONS until the previous commit is
      // complete at the coordinator: retried every few ms (2, 4, ... 20), as an exponential backoff would
      // add tens of ms to every transaction. Other failures: 10 ms doubling to 2 s, which over 40 tries
      // rides out a broker restart (each operation is bounded by operationTimeoutMs anyway).
      retries: 40,
      retryDelay: (
        _client: unknown,
        _operation: string,
        attempt: number,
        _retries: number,
        error: unknown,
      ) =>
        // A batch that does not decode never will: the client still retries it, but at once.
        codecFailure(error)
          ? 0
          : concurrentTransactions(error)
            ? Math.min(2 * attempt, 20)
            : Math.min(5 * 2 ** attempt, 2_000),
      autocreateTopics: false,
    };
  }

  get #adminClient(): PltAdmin {
    if (this.#closed) throw new WalError('CLOSED', 'kafka driver is closed', { retriable: false });
    this.#admin ??= new this.#module.Admin(this.#base);
    return this.#admin;
  }

  /** One consumer client (never joins a group) for metadata, offsets and fetches of every scanner. */
  get #reader(): PltConsumer {
    this.#consumer ??= this.#newConsumer();
    return this.#consumer;
  }

  #newConsumer(): PltConsumer {
    if (this.#closed) throw new WalError('CLOSED', 'kafka driver is closed', { retriable: false });
    // The group id is required by the client but never used: these consumers only send Fetch and
    // ListOffsets, they never join.
    return new this.#module.Consumer({
      ...this.#base,
      groupId: `walstream-unused-${randomUUID()}`,
      isolationLevel: READ_COMMITTED,
    });
  }

  async ping(): Promise<void> {
    // forceUpdate: a cached answer would say nothing about the broker now.
    await this.#adminClient.metadata({ topics: [], forceUpdate: true });
  }

  async ensureTopic(topic: string, spec: TopicSpec): Promise<void> {
    try {
      await this.#adminClient.createTopics({
        topics: [topic],
        partitions: 1,
        replicas: spec.replicationFactor,
        configs: Object.entries(spec.configs).map(([name, value]) => ({ name, value })),
      });
    } catch (error) {
      if (this.classify(error) !== 'topicExists') throw error;
    }
    // Creation is asynchronous on the controller: wait until the topic has a leader (every 100 ms, 50 times).
    let attempts = 0;
    await retryWithBackoff(
      async () => {
        const metadata = await this.#reader
          .metadata({ topics: [topic], forceUpdate: true })
          .catch(() => undefined);
        const leader = metadata?.topics.get(topic)?.partitions[0]?.leader;
        if (leader === undefined || leader < 0) {
          throw new WalError('UNAVAILABLE', `topic ${topic} has no leader after creation`);
        }
      },
      { initialMs: 100, maxMs: 100, shouldRetry: () => ++attempts < 50 && !this.#closed },
    );
  }

  async maxMessageBytes(topic: string): Promise<number | undefined> {
    const described = await this.#adminClient.describeConfigs({
      resources: [
        { resourceType: TOPIC_RESOURCE, resourceName: topic, configurationKeys: ['max.message.bytes'] },
      ],
    });
    const value = described[0]?.configs.find((c) => c.name === 'max.message.bytes')?.value;
    return value ? Number(value) : undefined;
  }

  async bounds(topic: string): Promise<LogBounds> {
    const [earliest, latest] = await Promise.all([
      this.#reader.listOffsets({ topics: [topic], timestamp: -2n }),
      this.#reader.listOffsets({ topics: [topic], isolationLevel: READ_COMMITTED }),
    ]);
    const start = earliest.get(topic)?.[0];
    const end = latest.get(topic)?.[0];
    if (start === undefined || end === undefined)
      throw new WalError('UNAVAILABLE', `no offsets for ${topic}`);
    return { start, end };
  }

  async lastStable(topic: string): Promise<bigint> {
    const latest = await this.#reader.listOffsets({ topics: [topic], isolationLevel: READ_COMMITTED });
    const end = latest.get(topic)?.[0];
    if (end === undefined) throw new WalError('UNAVAILABLE', `no offsets for ${topic}`);
    return end;
  }

  async deleteRecords(topic: string, before: bigint): Promise<void> {
    await this.#adminClient.deleteRecords({
      topics: [{ name: topic, partitions: [{ partition: 0, offset: before }] }],
    });
  }

  writer(spec: WriterSpec): DriverWriter {
    if (this.#closed) throw new WalError('CLOSED', 'kafka driver is closed', { retriable: false });
    const { compression } = this.#options;
    return new PlatformaticWriter(
      this.#module,
      compression === 'none' ? this.#base : { ...this.#base, compression },
      spec,
    );
  }

  async consume(
    topic: string,
    _name: string,
    from: bigint,
    handlers: ConsumeHandlers,
    signal: AbortSignal,
  ): Promise<void> {
    // Plain Fetch requests at an exact offset: no group, no commits. A client of its own per scanner:
    // a broker serves one request per connection at a time, so a long-polling fetch would delay others.
    const reader = this.#newConsumer();
    try {
      await this.#fetchLoop(reader, topic, from, handlers, signal);
    } finally {
      await reader.close(true).catch(() => undefined);
    }
  }

  async #fetchLoop(
    reader: PltConsumer,
    topic: string,
    from: bigint,
    handlers: ConsumeHandlers,
    signal: AbortSignal,
  ): Promise<void> {
    let next = from;
    let failingSince: number | undefined;
    let forceMetadata = false;
    while (!signal.aborted) {
      let partition: PltFetchPartition | undefined;
      try {
        const metadata = await reader.metadata({ topics: [topic], forceUpdate: forceMetadata });
        const info = metadata.topics.get(topic);
        const leader = info?.partitions[0]?.leader;
        if (!info || leader === undefined || leader < 0)
          throw new WalError('UNAVAILABLE', `no leader for ${topic}`);
        const response = await reader.fetch({
          node: leader,
          topics: [
            {
              topicId: info.id,
              partitions: [
                {
                  partition: 0,
                  fetchOffset: next,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                  partitionMaxBytes: this.#options.fetchMaxBytes,
                },
              ],
            },
          ],
          maxWaitTime: this.#options.fetchMaxWaitMs,
          maxBytes: this.#options.fetchMaxBytes,
          minBytes: 1,
          isolationLevel: READ_COMMITTED,
        });
        partition = response.responses[0]?.partitions[0];
        failingSince = undefined;
        forceMetadata = false;
      } catch (error) {
        if (signal.aborted) return;
        const kind = this.classify(error);
        if (kind !== 'unavailable') throw error;
        if (failingSince === undefined) {
          failingSince = Date.now();
          handlers.onRetry?.(error); // once per outage, not once per attempt
        }
        if (Date.now() - failingSince > this.#options.readRetryTimeoutMs) throw error;
        forceMetadata = true;
        try {
          await delay(250, signal);
        } catch {
          return; // closed while waiting
        }
        continue;
      }
      if (!partition) continue;
      const records = committedRecords(partition, next);
      const after = nextFetchOffset(partition);
      if (records.length > 0 && !(await handlers.onRecords(records))) return;
      if (after !== undefined && after > next) next = after;
      if (handlers.onProgress && !handlers.onProgress(next)) return;
    }
  }

  classify(error: unknown): FailureKind {
    return classifyChain(error, networkish);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const admin = this.#admin;
    const consumer = this.#consumer;
    this.#admin = undefined;
    this.#consumer = undefined;
    await Promise.all([admin?.close().catch(() => undefined), consumer?.close(true).catch(() => undefined)]);
  }
}

function firstOffset(result: PltProduceResult, topic: string): bigint {
  const entry = result.offsets?.find((o) => o.topic === topic && o.partition === 0);
  if (entry === undefined)
    throw new WalError('UNAVAILABLE', `@platformatic/kafka returned no offset for ${topic}`);
  return entry.offset;
}

class PlatformaticWriter implements DriverWriter {
  readonly #module: PltModule;
  readonly #base: PltBaseOptions;
  readonly #spec: WriterSpec;
  #producer: PltProducer | undefined;
  #pending: PltTransaction | undefined;

  constructor(module: PltModule, base: PltBaseOptions & { readonly compression?: string }, spec: WriterSpec) {
    this.#module = module;
    this.#base = base;
    this.#spec = spec;
  }

  async init(): Promise<void> {
    const producer = new this.#module.Producer({
      ...this.#base,
      idempotent: true,
      acks: ACKS_ALL,
      ...(this.#spec.transactionalId ? { transactionalId: this.#spec.transactionalId } : {}),
    });
    this.#producer = producer;
    if (this.#spec.transactionalId) this.#pending = await producer.beginTransaction(FRESH_PRODUCER);
    else await producer.initIdempotentProducer(FRESH_PRODUCER);
  }

  async write(
    batches: readonly (readonly OutRecord[])[],
    onStage?: (stage: WriteStage) => void,
  ): Promise<bigint[]> {
    const producer = this.#producer;
    if (!producer) throw new WalError('UNAVAILABLE', '@platformatic/kafka writer is not initialized');
    const topic = this.#spec.topic;
    const toMessages = (records: readonly OutRecord[]) =>
      records.map((record) => ({
        topic,
        partition: 0,
        value: record.value,
        headers: new Map(record.headers.map(([key, value]) => [Buffer.from(key), value] as const)),
      }));
    const offsets: bigint[] = [];
    if (!this.#spec.transactionalId) {
      for (const batch of batches)
        offsets.push(
          firstOffset(await producer.send({ messages: toMessages(batch), acks: ACKS_ALL }), topic),
        );
      return offsets;
    }
    let txn: PltTransaction;
    try {
      txn = this.#pending ?? (await producer.beginTransaction(FRESH_PRODUCER));
    } catch (error) {
      // Nothing was sent. The client keeps a transaction it failed to begin or to end as "active" and
      // refuses the next one ("There is already an active transaction"): retriable, since the WAL writer
      // replaces this producer before its next attempt.
      throw new WalError(
        'UNAVAILABLE',
        `@platformatic/kafka could not begin a transaction on ${topic}: ${errorMessage(error)}`,
        { cause: error, details: { written: false } },
      );
    }
    this.#pending = undefined;
    try {
      for (const batch of batches)
        offsets.push(firstOffset(await txn.send({ messages: toMessages(batch), acks: ACKS_ALL }), topic));
      onStage?.('sent');
      const committed = txn.commit();
      onStage?.('committing');
      await committed;
      return offsets;
    } catch (error) {
      if (!txn.completed) await txn.abort().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (this.#pending && !this.#pending.completed) await this.#pending.abort().catch(() => undefined);
    this.#pending = undefined;
    await producer?.close(true).catch(() => undefined);
  }
}
