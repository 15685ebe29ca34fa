import { WalError } from '@walstream/core';
import {
  abortError,
  assertPChannelInfo,
  type BuildOptions,
  type OpenOptions,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsCapabilities,
  type WalImplsOpener,
} from '@walstream/core/spi';
import { createKafkaJsDriver } from './driver/kafkajs.js';
import { createPlatformaticDriver } from './driver/platformatic.js';
import type { KafkaDriver } from './driver/types.js';
import { KAFKA_WAL_NAME, registerKafkaMessageIdCodec } from './message-id.js';
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
 *
 * ```ts
 * const adapter = kafkaAdapter({ driver: 'platformatic', brokers: ['127.0.0.1:9092'] });
 * const opener = await adapter.build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export function kafkaAdapter(options: KafkaAdapterOptions): KafkaAdapter {
  registerKafkaMessageIdCodec();
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
      const driver =
        resolved.driver === 'kafkajs'
          ? await createKafkaJsDriver(resolved)
          : await createPlatformaticDriver(resolved);
      try {
        await reachable(driver, resolved, buildOptions?.signal);
      } catch (error) {
        await driver.close();
        throw error;
      }
      return new KafkaOpener(driver, resolved);
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

class KafkaOpener implements WalImplsOpener {
  readonly #driver: KafkaDriver;
  readonly #options: ResolvedOptions;
  readonly #wals = new Set<KafkaWal>();
  #closed: Promise<void> | undefined;

  constructor(driver: KafkaDriver, options: ResolvedOptions) {
    this.#driver = driver;
    this.#options = options;
  }

  async open(options: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw new WalError('CLOSED', 'kafka opener is closed', { retriable: false });
    if (options?.signal?.aborted) throw abortError(options.signal, 'kafka open');
    if (typeof options?.channel !== 'object' || options.channel === null) {
      throw new WalError('INVALID_ARGUMENT', 'open needs a channel (PChannelInfo)');
    }
    assertPChannelInfo(options.channel);
    const { channel, signal } = options;
    const topic = this.#options.topicPrefix + channel.name;
    if (!TOPIC_NAME.test(topic)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `topic ${JSON.stringify(topic)} of pchannel ${channel.name} is not a legal Kafka topic name ([a-zA-Z0-9._-], at most 249)`,
      );
    }
    const driver = this.#driver;
    // A dead broker fails here within connectTimeoutMs instead of inside the client's longer retries.
    await reachable(driver, this.#options, signal);
    const timeout = this.#options.operationTimeoutMs;
    const configs: Record<string, string> = { ...this.#options.topicConfig };
    if (this.#options.minInsyncReplicas !== undefined) {
      configs['min.insync.replicas'] = String(this.#options.minInsyncReplicas);
    }
    let wal: KafkaWal | undefined;
    try {
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
        onClose: (closed) => this.#wals.delete(closed),
      });
      this.#wals.add(wal);
      await bounded(
        wal.start(),
        timeout * 2,
        `taking pchannel ${channel.name} at term ${channel.term}`,
        signal,
      );
      if (this.#closed) throw new WalError('CLOSED', 'kafka opener closed during open', { retriable: false });
      return wal;
    } catch (error) {
      await wal?.close().catch(() => undefined);
      if (WalError.is(error)) throw error;
      throw new WalError('UNAVAILABLE', `open ${channel.name}: ${errorMessage(error)}`, { cause: error });
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#wals].map((wal) => wal.close()));
      await this.#driver.close();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
