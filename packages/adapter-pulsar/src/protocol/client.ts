/**
 * The client's entry point: topic lookup (following redirects), a pool of shared broker connections
 * for readers and lookups, dedicated connections for producers, and the retry pacing every reconnect
 * uses.
 */
import { WalError } from '@walstream/core';
import { decodeLookupResponse, LookupType, lookupCommand } from './commands.js';
import {
  Connection,
  type ConnectionOptions,
  DEFAULT_CONNECTION_OPTIONS,
  parseServiceUrl,
} from './connection.js';
import { brokerError } from './errors.js';
import { encodeFrame } from './frame.js';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export interface PulsarClientOptions {
  /** `pulsar://host:port` of any broker (or proxy) of the cluster. */
  readonly serviceUrl: string;
  readonly connection?: Partial<ConnectionOptions>;
  /** Pacing of reconnect attempts: doubling from `initialMs` up to `maxMs`, with jitter. */
  readonly backoff?: Partial<BackoffOptions>;
  /**
   * How long a reader keeps failing to reconnect, and a queued send waits for its producer, before
   * they give up with UNAVAILABLE. Default 30 s.
   */
  readonly operationTimeoutMs?: number;
}

const MAX_REDIRECTS = 8;

/** Exponential backoff with ±20 % jitter, so many clients do not reconnect in lockstep. */
export class Backoff {
  readonly #options: BackoffOptions;
  #next: number;

  constructor(options: BackoffOptions) {
    this.#options = options;
    this.#next = options.initialMs;
  }

  next(): number {
    const delay = this.#next;
    this.#next = Math.min(this.#options.maxMs, this.#next * 2);
    return Math.round(delay * (0.8 + Math.random() * 0.4));
  }

  reset(): void {
    this.#next = this.#options.initialMs;
  }
}

export class PulsarClient {
  readonly serviceUrl: string;
  readonly connectionOptions: ConnectionOptions;
  readonly backoffOptions: BackoffOptions;
  readonly operationTimeoutMs: number;
  readonly #pool = new Map<string, Promise<Connection>>();
  readonly #dedicated = new Set<Connection>();
  #closed = false;

  constructor(options: PulsarClientOptions) {
    parseServiceUrl(options.serviceUrl);
    this.serviceUrl = options.serviceUrl;
    this.connectionOptions = { ...DEFAULT_CONNECTION_OPTIONS, ...options.connection };
    this.backoffOptions = { initialMs: 100, maxMs: 5_000, ...options.backoff };
    this.operationTimeoutMs = options.operationTimeoutMs ?? 30_000;
  }

  get closed(): boolean {
    return this.#closed;
  }

  newBackoff(): Backoff {
    return new Backoff(this.backoffOptions);
  }

  /** A shared connection to `url` (opened on first use; a closed one is replaced). */
  connection(url: string = this.serviceUrl): Promise<Connection> {
    if (this.#closed) return Promise.reject(new WalError('CLOSED', 'the Pulsar client is closed'));
    const existing = this.#pool.get(url);
    if (existing) return existing;
    const opening = Connection.open(url, this.connectionOptions).then(
      (connection) => {
        connection.onClosed(() => {
          if (this.#pool.get(url) === opening) this.#pool.delete(url);
        });
        if (this.#closed) connection.close();
        return connection;
      },
      (error: unknown) => {
        if (this.#pool.get(url) === opening) this.#pool.delete(url);
        throw error;
      },
    );
    this.#pool.set(url, opening);
    return opening;
  }

  /** A connection owned by one producer: fencing and reconnects of a writer never disturb readers. */
  async dedicatedConnection(url: string): Promise<Connection> {
    if (this.#closed) throw new WalError('CLOSED', 'the Pulsar client is closed');
    const connection = await Connection.open(url, this.connectionOptions);
    this.#dedicated.add(connection);
    connection.onClosed(() => this.#dedicated.delete(connection));
    if (this.#closed) connection.close();
    return connection;
  }

  /** The broker URL that serves `topic`, following redirects. TopicNotFound → CHANNEL_NOT_EXIST. */
  async lookup(topic: string): Promise<string> {
    let url = this.serviceUrl;
    let authoritative = false;
    for (let hop = 0; hop < MAX_REDIRECTS; hop++) {
      const connection = await this.connection(url);
      const requestId = connection.nextRequestId();
      const answer = await connection.request(
        requestId,
        encodeFrame(lookupCommand(topic, requestId, authoritative)),
        `lookup of ${topic}`,
      );
      const response = decodeLookupResponse(answer.body);
      if (response.response === LookupType.Failed || !response.brokerServiceUrl) {
        throw brokerError(response.error ?? 0, response.message || 'lookup failed', `lookup of ${topic}`);
      }
      if (response.response === LookupType.Connect) {
        return response.proxyThroughServiceUrl ? this.serviceUrl : response.brokerServiceUrl;
      }
      url = response.brokerServiceUrl;
      authoritative = response.authoritative;
    }
    throw new WalError('UNAVAILABLE', `lookup of ${topic}: more than ${MAX_REDIRECTS} redirects`);
  }

  /** Closes every connection; producers and readers on them end with CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new WalError('CLOSED', 'the Pulsar client is closed');
    const pooled = await Promise.allSettled([...this.#pool.values()]);
    this.#pool.clear();
    for (const result of pooled) if (result.status === 'fulfilled') result.value.close(reason);
    for (const connection of [...this.#dedicated]) connection.close(reason);
    this.#dedicated.clear();
  }
}
