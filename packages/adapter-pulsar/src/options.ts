import { WalError } from '@walstream/core';
import {
  booleanOption,
  checkKnownKeys,
  integerOption,
  oneOfOption,
  stringOption,
} from '@walstream/core/internal';
import type { PulsarCompression } from './codecs/index.js';
import type { BackoffOptions } from './protocol/client.js';
import {
  type ConnectionOptions,
  DEFAULT_CONNECTION_OPTIONS,
  parseServiceUrl,
} from './protocol/connection.js';

/** Socket-level settings of the adapter's connections; every field optional. */
export interface PulsarConnectionOptions {
  /** Bound on opening a connection (TCP + CONNECT). Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Bound on one request (lookup, subscribe, producer creation, ...). Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** PING after this much silence; the connection is dropped after twice as much. Default 30 s. */
  readonly keepAliveMs?: number;
  /** The client version the broker sees in CONNECT. Default `walstream-pulsar/<version>`. */
  readonly clientVersion?: string;
}

/** Pacing of reconnect attempts: doubling from `initialMs` up to `maxMs`, with ±20 % jitter. */
export interface PulsarBackoffOptions {
  /** Default 100 ms. */
  readonly initialMs?: number;
  /** Default 5 s. */
  readonly maxMs?: number;
}

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
  /**
   * Codec of what this adapter appends: `none` (default), `lz4`, `zlib`, `zstd` or `snappy`, all pure
   * JavaScript or WebAssembly. A message that does not get smaller is sent uncompressed. Readers need no
   * setting: every entry names its codec, and all five are read.
   */
  readonly compression?: PulsarCompression;
  /**
   * Bound on the chunks of incomplete chunked messages (written by producers with chunking on) one
   * reader holds; a chunked message larger than this cannot be read (UNRECOVERABLE). Default 64 MiB.
   */
  readonly maxChunkedMessageBytes?: number;
  readonly connection?: PulsarConnectionOptions;
  readonly backoff?: PulsarBackoffOptions;
}

/** Every option resolved: what the opener, its client and its admin client run with. */
export interface ResolvedPulsarOptions {
  readonly serviceUrl: string;
  readonly adminUrl: string;
  readonly tenant: string;
  readonly namespace: string;
  readonly topicPrefix: string;
  readonly createTopics: boolean;
  readonly truncateSubscription: string;
  readonly maxPendingMessages: number;
  readonly operationTimeoutMs: number;
  readonly compression: PulsarCompression;
  readonly maxChunkedMessageBytes: number;
  readonly connection: ConnectionOptions;
  readonly backoff: BackoffOptions;
}

const WHERE = 'pulsarAdapter';

const KNOWN: readonly (keyof PulsarAdapterOptions)[] = [
  'serviceUrl',
  'adminUrl',
  'tenant',
  'namespace',
  'topicPrefix',
  'createTopics',
  'truncateSubscription',
  'maxPendingMessages',
  'operationTimeoutMs',
  'compression',
  'maxChunkedMessageBytes',
  'connection',
  'backoff',
];
const CONNECTION_KNOWN: readonly (keyof PulsarConnectionOptions)[] = [
  'connectTimeoutMs',
  'requestTimeoutMs',
  'keepAliveMs',
  'clientVersion',
];
const BACKOFF_KNOWN: readonly (keyof PulsarBackoffOptions)[] = ['initialMs', 'maxMs'];

function invalid(option: string, must: string): WalError {
  return new WalError('INVALID_ARGUMENT', `${WHERE}: option ${option} ${must}`, {
    retriable: false,
    details: { option },
  });
}

/** Checks every option, nested ones included (INVALID_ARGUMENT naming it), and fills in the defaults. */
export function resolvePulsarOptions(options: PulsarAdapterOptions): ResolvedPulsarOptions {
  if (typeof options !== 'object' || options === null) {
    throw new WalError('INVALID_ARGUMENT', `${WHERE} needs options ({ serviceUrl, adminUrl })`, {
      retriable: false,
    });
  }
  checkKnownKeys(WHERE, options, KNOWN);
  const serviceUrl = stringOption(WHERE, 'serviceUrl', options.serviceUrl, '', false);
  try {
    parseServiceUrl(serviceUrl);
  } catch {
    throw invalid(
      'serviceUrl',
      `must be pulsar://host:port (TLS is not supported), got ${JSON.stringify(serviceUrl)}`,
    );
  }
  const adminUrl = stringOption(WHERE, 'adminUrl', options.adminUrl, '', false);
  if (!/^https?:\/\/[^/]+/.test(adminUrl)) {
    throw invalid(
      'adminUrl',
      `must be http://host:port of the admin REST API, got ${JSON.stringify(adminUrl)}`,
    );
  }
  const connection = options.connection;
  checkKnownKeys(WHERE, connection, CONNECTION_KNOWN, 'connection.');
  const backoff = options.backoff;
  checkKnownKeys(WHERE, backoff, BACKOFF_KNOWN, 'backoff.');
  const initialMs = integerOption(WHERE, 'backoff.initialMs', backoff?.initialMs, 100);
  return {
    serviceUrl,
    adminUrl,
    tenant: stringOption(WHERE, 'tenant', options.tenant, 'public', false),
    namespace: stringOption(WHERE, 'namespace', options.namespace, 'default', false),
    topicPrefix: stringOption(WHERE, 'topicPrefix', options.topicPrefix, ''),
    createTopics: booleanOption(WHERE, 'createTopics', options.createTopics, true),
    truncateSubscription: stringOption(
      WHERE,
      'truncateSubscription',
      options.truncateSubscription,
      'walstream-truncate',
      false,
    ),
    maxPendingMessages: integerOption(WHERE, 'maxPendingMessages', options.maxPendingMessages, 1000),
    operationTimeoutMs: integerOption(WHERE, 'operationTimeoutMs', options.operationTimeoutMs, 30_000),
    compression: oneOfOption(
      WHERE,
      'compression',
      options.compression,
      ['none', 'lz4', 'zlib', 'zstd', 'snappy'],
      'none',
    ),
    maxChunkedMessageBytes: integerOption(
      WHERE,
      'maxChunkedMessageBytes',
      options.maxChunkedMessageBytes,
      64 * 1024 * 1024,
    ),
    connection: {
      connectTimeoutMs: integerOption(
        WHERE,
        'connection.connectTimeoutMs',
        connection?.connectTimeoutMs,
        DEFAULT_CONNECTION_OPTIONS.connectTimeoutMs,
      ),
      requestTimeoutMs: integerOption(
        WHERE,
        'connection.requestTimeoutMs',
        connection?.requestTimeoutMs,
        DEFAULT_CONNECTION_OPTIONS.requestTimeoutMs,
      ),
      keepAliveMs: integerOption(
        WHERE,
        'connection.keepAliveMs',
        connection?.keepAliveMs,
        DEFAULT_CONNECTION_OPTIONS.keepAliveMs,
      ),
      clientVersion: stringOption(
        WHERE,
        'connection.clientVersion',
        connection?.clientVersion,
        DEFAULT_CONNECTION_OPTIONS.clientVersion,
        false,
      ),
    },
    backoff: {
      initialMs,
      maxMs: integerOption(WHERE, 'backoff.maxMs', backoff?.maxMs, Math.max(5_000, initialMs), {
        min: initialMs,
      }),
    },
  };
}
