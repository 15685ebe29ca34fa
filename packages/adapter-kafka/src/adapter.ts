import { WalError } from '@walstream/core';
import {
  abortError,
  assertPChannelInfo,
  type BuildOptions,
  noObservability,
  type Observability,
  type OpenOptions,
  registerMessageIdCodec,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsCapabilities,
  type WalImplsOpener,
} from '@walstream/core/spi';
import { createKafkaJsDriver } from './driver/kafkajs.js';
import { createPlatformaticDriver } from './driver/platformatic.js';
import type { KafkaDriver } from './driver/types.js';
import { KAFKA_WAL_NAME, KafkaMessageId } from './message-id.js';
import {
  type KafkaAdapterOptions,
  type KafkaDriverName,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { bounded, errorMessage } from './util.js';
import { KafkaWal } from './wal.js';

/** Kafka's own default for max.message.bytes, used when the broker does not report the topic's. */
const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** The `kafka` builder. */
export interface KafkaAdapter extends WalImplsBuilder {
  readonly name: typeof KAFKA_WAL_NAME;
  readonly driver: KafkaDriverName;
}

/**
 * The Kafka adapter: one topic per pchannel (partition 0), ids are offsets, truncate is DeleteRecords,
 * and (by default) writers of lower terms are fenced through a transactional producer per pchannel.
 * Every option is checked here: an unknown or bad one throws INVALID_ARGUMENT naming it. The adapter
 * logs and reports background failures through the `observability` that `build()` receives (the
 * stack's, from `createWal({ logger, onError })`).
 *
 * ```ts
 * const adapter = kafkaAdapter({ driver: 'platformatic', brokers: ['127.0.0.1:9092'] });
 * const opener = await adapter.build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export function kafkaAdapter(options: KafkaAdapterOptions): KafkaAdapter {
  // Also at module load; repeated here because bundlers may drop a side-effect-only import.
  registerMessageIdCodec(KAFKA_WAL_NAME, KafkaMessageId.unmarshal);
  const resolved = resolveOptions(options);
  const capabilities: WalImplsCapabilities = Object.freeze({
    truncate: 'physical',
    fencing: resolved.fencing === 'transactional',
  });
  return {
    name: KAFKA_WAL_NAME,
    driver: resolved.driver,
    capabilities,
    async build(buildOptions?: BuildOptions): Promise<WalImplsOpener> {
      if (buildOptions?.signal?.aborted) throw abortError(buildOptions.signal, 'kafka adapter build');
      const observability = (buildOptions?.observability ?? noObservability).child({
        adapter: KAFKA_WAL_NAME,
      });
      const driver =
        resolved.driver === 'kafkajs'
          ? await createKafkaJsDriver(resolved, observability)
          : await createPlatformaticDriver(resolved);
      try {
        await reachable(driver, resolved, buildOptions?.signal);
      } catch (error) {
        await driver.close();
        throw error;
      }
      return new KafkaOpener(driver, resolved, observability);
    },
  };
}

/** Bounded metadata round trip: UNAVAILABLE when the broker refuses, TIMEOUT when it does not answer. */
async function reachable(driver: KafkaDriver, options: ResolvedOptions, signal?: AbortSignal): Promise<void> {
  const bootstrap = options.brokers.join(',') || 'the configured kafkajs brokers';
  try {
    await bounded(driver.ping(), options.connectTimeoutMs, `connecting to Kafka at ${bootstrap}`, signal);
  } catch (error) {
    if (WalError.is(error)) throw error;
    throw new WalError('UNAVAILABLE', `cannot reach Kafka at ${bootstrap}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

function closedError(when?: string, cause?: unknown): WalError {
  return new WalError('CLOSED', `kafka opener closed${when ? ` ${when}` : ''}`, { retriable: false, cause });
}

class KafkaOpener implements WalImplsOpener {
  readonly #driver: KafkaDriver;
  readonly #options: ResolvedOptions;
  readonly #observability: Observability;
  readonly #wals = new Set<KafkaWal>();
  /** Aborted by `close`: an open in flight stops waiting for the broker and rejects CLOSED. */
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;

  constructor(driver: KafkaDriver, options: ResolvedOptions, observability: Observability) {
    this.#driver = driver;
    this.#options = options;
    this.#observability = observability;
  }

  async open(options: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw closedError();
    if (options?.signal?.aborted) throw abortError(options.signal, 'kafka open');
    if (typeof options?.channel !== 'object' || options.channel === null) {
      throw new WalError('INVALID_ARGUMENT', 'open needs a channel (PChannelInfo)');
    }
    assertPChannelInfo(options.channel);
    const { channel } = options;
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const topic = this.#options.topicPrefix + channel.name;
    if (!TOPIC_NAME.test(topic)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `topic ${JSON.stringify(topic)} of pchannel ${channel.name} is not a legal Kafka topic name ([a-zA-Z0-9._-], at most 249)`,
      );
    }
    const driver = this.#driver;
    const observability = this.#observability.child({
      pchannel: channel.name,
      term: channel.term.toString(),
    });
    const timeout = this.#options.operationTimeoutMs;
    const configs: Record<string, string> = { ...this.#options.topicConfig };
    if (this.#options.minInsyncReplicas !== undefined) {
      configs['min.insync.replicas'] = String(this.#options.minInsyncReplicas);
    }
    let wal: KafkaWal | undefined;
    try {
      // A dead broker fails here within connectTimeoutMs instead of inside the client's longer retries.
      await reachable(driver, this.#options, signal);
      await bounded(
        driver.ensureTopic(topic, { replicationFactor: this.#options.replicationFactor, configs }),
        timeout,
        `creating topic ${topic}`,
        signal,
      );
      const maxMessageBytes =
        (await bounded(driver.maxMessageBytes(topic), timeout, `describing topic ${topic}`, signal)) ??
        KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
      wal = new KafkaWal({
        driver,
        topic,
        channel: { name: channel.name, term: channel.term, accessMode: channel.accessMode },
        options: this.#options,
        maxMessageBytes,
        observability,
        onClose: (closed) => this.#wals.delete(closed),
      });
      this.#wals.add(wal);
      await bounded(
        wal.start(),
        timeout * 2,
        `taking pchannel ${channel.name} at term ${channel.term}`,
        signal,
      );
      if (this.#closed) throw closedError('during open');
      observability.logger.debug({ topic, accessMode: channel.accessMode }, 'kafka WAL opened');
      return wal;
    } catch (error) {
      await wal?.close().catch(() => undefined);
      // Closed while opening: the close is the answer, not what it interrupted (a dropped connection).
      if (this.#closed) throw closedError('during open', error);
      if (WalError.is(error)) throw error;
      throw new WalError('UNAVAILABLE', `open ${channel.name}: ${errorMessage(error)}`, { cause: error });
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await Promise.all([...this.#wals].map((wal) => wal.close()));
      await this.#driver.close();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

declare module '@walstream/core' {
  interface RegisteredAdapters {
    /** Typed options for `registry.registerAdapter('kafka', kafkaAdapter)` and `createWal().adapter('kafka', …)`. */
    kafka: KafkaAdapterOptions;
  }
}
