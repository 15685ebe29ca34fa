import { randomBytes } from 'node:crypto';
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
import { prepareCompression } from './codecs/index.js';
import { PULSAR_WAL_NAME, PulsarMessageId } from './message-id.js';
import { type PulsarAdapterOptions, type ResolvedPulsarOptions, resolvePulsarOptions } from './options.js';
import { PulsarAdmin } from './protocol/admin.js';
import { PulsarClient } from './protocol/client.js';
import { Producer } from './protocol/producer.js';
import { PulsarWal, reportTo } from './wal.js';

export interface PulsarAdapter extends WalImplsBuilder {
  readonly name: typeof PULSAR_WAL_NAME;
  readonly options: Readonly<PulsarAdapterOptions>;
}

/**
 * Truncation moves a subscription cursor: Pulsar may reclaim data before it only under a finite
 * retention policy, at ledger granularity, so readers can still see it: declared `noop`.
 */
const CAPABILITIES: WalImplsCapabilities = Object.freeze({ truncate: 'noop', fencing: true });

/** Pulsar's rule for the local part of a topic name, kept strict so names map 1:1 to topics. */
const LOCAL_NAME = /^[A-Za-z0-9_.=:-]+$/;

/**
 * The `pulsar` builder. Each `build()` makes an opener with its own client (connections) and admin
 * client; WALs of one opener share its reader connections, each producer has a connection of its own.
 * Every option is checked here, nested ones included: an unknown or bad one throws INVALID_ARGUMENT
 * naming it. The adapter logs and reports background failures (reconnects) through the
 * `observability` that `build()` receives (the stack's, from `createWal({ logger, onError })`).
 *
 * ```ts
 * const opener = await pulsarAdapter({ serviceUrl, adminUrl }).build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export function pulsarAdapter(options: PulsarAdapterOptions): PulsarAdapter {
  // Also at module load; repeated here because bundlers may drop a side-effect-only import.
  registerMessageIdCodec(PULSAR_WAL_NAME, PulsarMessageId.unmarshal);
  const resolved = resolvePulsarOptions(options);
  const frozen = Object.freeze({ ...options });
  return {
    name: PULSAR_WAL_NAME,
    capabilities: CAPABILITIES,
    options: frozen,
    async build(buildOptions?: BuildOptions): Promise<WalImplsOpener> {
      if (buildOptions?.signal?.aborted) throw abortError(buildOptions.signal, 'pulsar adapter build');
      const observability = (buildOptions?.observability ?? noObservability).child({
        adapter: PULSAR_WAL_NAME,
      });
      const client = new PulsarClient({
        serviceUrl: resolved.serviceUrl,
        connection: resolved.connection,
        backoff: resolved.backoff,
        operationTimeoutMs: resolved.operationTimeoutMs,
      });
      try {
        // Fail fast when the broker is not there, as the SPI asks (UNAVAILABLE or TIMEOUT).
        await client.connection();
      } catch (error) {
        await client.close();
        throw error;
      }
      const admin = new PulsarAdmin(resolved.adminUrl, resolved.operationTimeoutMs);
      return new PulsarOpener(client, admin, resolved, observability);
    },
  };
}

function closedError(cause?: unknown): WalError {
  return new WalError('CLOSED', 'the pulsar opener is closed', { retriable: false, cause });
}

class PulsarOpener implements WalImplsOpener {
  readonly #client: PulsarClient;
  readonly #admin: PulsarAdmin;
  readonly #options: ResolvedPulsarOptions;
  readonly #observability: Observability;
  readonly #wals = new Set<PulsarWal>();
  #closed: Promise<void> | undefined;

  constructor(
    client: PulsarClient,
    admin: PulsarAdmin,
    options: ResolvedPulsarOptions,
    observability: Observability,
  ) {
    this.#client = client;
    this.#admin = admin;
    this.#options = options;
    this.#observability = observability;
  }

  topicOf(name: string): string {
    const local = `${this.#options.topicPrefix}${name}`;
    if (!LOCAL_NAME.test(local)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `pchannel ${JSON.stringify(name)} does not make a valid Pulsar topic name (letters, digits, _ . = : -)`,
      );
    }
    return `persistent://${this.#options.tenant}/${this.#options.namespace}/${local}`;
  }

  async open(options: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw closedError();
    if (options?.signal?.aborted) throw abortError(options.signal, 'pulsar WAL open');
    if (typeof options?.channel !== 'object' || options.channel === null) {
      throw new WalError('INVALID_ARGUMENT', 'open needs a channel (PChannelInfo)');
    }
    assertPChannelInfo(options.channel);
    const { channel } = options;
    const topic = this.topicOf(channel.name);
    const { truncateSubscription } = this.#options;
    const observability = this.#observability.child({
      pchannel: channel.name,
      term: channel.term.toString(),
    });
    let producer: Producer | undefined;
    try {
      if (channel.accessMode === 'rw') {
        if (this.#options.createTopics) {
          await this.#admin.createTopic(topic);
          // A durable cursor at the start, as Milvus's truncate-cursor: under a finite retention policy it
          // keeps everything after the last truncation point.
          await this.#admin.createSubscription(topic, truncateSubscription);
        }
        await prepareCompression(this.#options.compression);
        producer = await Producer.create(this.#client, {
          topic,
          producerName: `walstream-${channel.name}-t${channel.term}-${randomBytes(4).toString('hex')}`,
          topicEpoch: channel.term,
          // Producer names carry the term: an older or same-term holder is evicted, a newer one wins.
          mayEvict: (holder) => {
            const term = /-t(\d+)-[0-9a-f]{8}$/.exec(holder)?.[1];
            return term !== undefined && BigInt(term) <= channel.term;
          },
          attachedProducers: () => this.#admin.publishers(topic),
          maxPendingMessages: this.#options.maxPendingMessages,
          compression: this.#options.compression,
          events: reportTo(observability, 'pulsar.producer', channel.name),
        });
      }
    } catch (error) {
      // Closed while opening: the close is the answer, not what it interrupted (a dropped connection).
      if (this.#closed) throw closedError(error);
      throw error;
    }
    if (this.#closed) {
      await producer?.close();
      throw closedError();
    }
    const wal = new PulsarWal(
      {
        client: this.#client,
        admin: this.#admin,
        topic,
        truncateSubscription,
        maxChunkedMessageBytes: this.#options.maxChunkedMessageBytes,
        observability,
        onClosed: (closed) => this.#wals.delete(closed),
      },
      channel,
      producer,
    );
    this.#wals.add(wal);
    observability.logger.debug({ topic, accessMode: channel.accessMode }, 'pulsar WAL opened');
    return wal;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled([...this.#wals].map((wal) => wal.close()));
      this.#wals.clear();
      await this.#client.close();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

declare module '@walstream/core' {
  interface RegisteredAdapters {
    /** Typed options for `registry.registerAdapter('pulsar', pulsarAdapter)` and `createWal().adapter('pulsar', …)`. */
    pulsar: PulsarAdapterOptions;
  }
}
