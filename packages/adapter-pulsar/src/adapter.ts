import { randomBytes } from 'node:crypto';
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
import { PULSAR_WAL_NAME, registerPulsarMessageIdCodec } from './message-id.js';
import { PulsarAdmin } from './protocol/admin.js';
import { type BackoffOptions, PulsarClient } from './protocol/client.js';
import type { ConnectionOptions } from './protocol/connection.js';
import { Producer } from './protocol/producer.js';
import { PulsarWal } from './wal.js';

export interface PulsarAdapterOptions {
  /** `pulsar://host:port` of a broker or proxy. */
  readonly serviceUrl: string;
  /** `http://host:port` of the admin REST API (topic creation, truncation). */
  readonly adminUrl: string;
  /** Tenant and namespace of the topics. Default `public` / `default`. */
  readonly tenant?: string;
  readonly namespace?: string;
  /** Prepended to pchannel names to make topic names. Default none. */
  readonly topicPrefix?: string;
  /**
   * Create the topic (admin REST) when a pchannel is opened read-write. Default true. When false the
   * topic must exist (or the broker auto-create it), else open rejects CHANNEL_NOT_EXIST.
   */
  readonly createTopics?: boolean;
  /** The durable subscription whose cursor `truncate` moves. Default `walstream-truncate`. */
  readonly truncateSubscription?: string;
  /** Sends in flight per WAL before `append` waits for receipts. Default 1000. */
  readonly maxPendingMessages?: number;
  /** How long reconnects may take before operations fail UNAVAILABLE. Default 30 s. */
  readonly operationTimeoutMs?: number;
  readonly connection?: Partial<ConnectionOptions>;
  readonly backoff?: Partial<BackoffOptions>;
}

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
 *
 * ```ts
 * const opener = await pulsarAdapter({ serviceUrl, adminUrl }).build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export function pulsarAdapter(options: PulsarAdapterOptions): PulsarAdapter {
  registerPulsarMessageIdCodec();
  if (typeof options?.serviceUrl !== 'string' || typeof options.adminUrl !== 'string') {
    throw new WalError('INVALID_ARGUMENT', 'pulsarAdapter needs serviceUrl and adminUrl');
  }
  const frozen = Object.freeze({ ...options });
  return {
    name: PULSAR_WAL_NAME,
    capabilities: CAPABILITIES,
    options: frozen,
    async build(buildOptions?: BuildOptions): Promise<WalImplsOpener> {
      if (buildOptions?.signal?.aborted) throw abortError(buildOptions.signal, 'pulsar adapter build');
      const client = new PulsarClient({
        serviceUrl: frozen.serviceUrl,
        ...(frozen.connection ? { connection: frozen.connection } : {}),
        ...(frozen.backoff ? { backoff: frozen.backoff } : {}),
        ...(frozen.operationTimeoutMs ? { operationTimeoutMs: frozen.operationTimeoutMs } : {}),
      });
      try {
        // Fail fast when the broker is not there, as the SPI asks (UNAVAILABLE or TIMEOUT).
        await client.connection();
      } catch (error) {
        await client.close();
        throw error;
      }
      return new PulsarOpener(client, new PulsarAdmin(frozen.adminUrl, frozen.operationTimeoutMs), frozen);
    },
  };
}

class PulsarOpener implements WalImplsOpener {
  readonly #client: PulsarClient;
  readonly #admin: PulsarAdmin;
  readonly #options: PulsarAdapterOptions;
  readonly #wals = new Set<PulsarWal>();
  #closed: Promise<void> | undefined;

  constructor(client: PulsarClient, admin: PulsarAdmin, options: PulsarAdapterOptions) {
    this.#client = client;
    this.#admin = admin;
    this.#options = options;
  }

  topicOf(name: string): string {
    const local = `${this.#options.topicPrefix ?? ''}${name}`;
    if (!LOCAL_NAME.test(local)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `pchannel ${JSON.stringify(name)} does not make a valid Pulsar topic name (letters, digits, _ . = : -)`,
      );
    }
    return `persistent://${this.#options.tenant ?? 'public'}/${this.#options.namespace ?? 'default'}/${local}`;
  }

  async open(options: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw new WalError('CLOSED', 'the pulsar opener is closed');
    if (options?.signal?.aborted) throw abortError(options.signal, 'pulsar WAL open');
    if (typeof options?.channel !== 'object' || options.channel === null) {
      throw new WalError('INVALID_ARGUMENT', 'open needs a channel (PChannelInfo)');
    }
    assertPChannelInfo(options.channel);
    const { channel } = options;
    const topic = this.topicOf(channel.name);
    const truncateSubscription = this.#options.truncateSubscription ?? 'walstream-truncate';
    let producer: Producer | undefined;
    if (channel.accessMode === 'rw') {
      if (this.#options.createTopics ?? true) {
        await this.#admin.createTopic(topic);
        // A durable cursor at the start, as Milvus's truncate-cursor: under a finite retention policy it
        // keeps everything after the last truncation point.
        await this.#admin.createSubscription(topic, truncateSubscription);
      }
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
        ...(this.#options.maxPendingMessages ? { maxPendingMessages: this.#options.maxPendingMessages } : {}),
      });
    }
    if (this.#closed) {
      await producer?.close();
      throw new WalError('CLOSED', 'the pulsar opener is closed');
    }
    const wal = new PulsarWal(
      {
        client: this.#client,
        admin: this.#admin,
        topic,
        truncateSubscription,
        onClosed: (closed) => this.#wals.delete(closed),
      },
      channel,
      producer,
    );
    this.#wals.add(wal);
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
