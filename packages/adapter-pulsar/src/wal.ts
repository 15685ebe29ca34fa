import {
  type DeliverPolicy,
  ImmutableMessage,
  type MessageID,
  type MutableMessage,
  type PChannelInfo,
  WalError,
} from '@walstream/core';
import { integerOption } from '@walstream/core/internal';
import {
  type AppendOptions,
  abortError,
  createRawScanner,
  DEFAULT_READ_AHEAD_BUFFER_SIZE,
  type Observability,
  type RawScanner,
  type ReadOptions,
  type WalImpls,
} from '@walstream/core/spi';
import { asPulsarMessageId, PULSAR_WAL_NAME, PulsarMessageId } from './message-id.js';
import type { PulsarAdmin } from './protocol/admin.js';
import type { PulsarClient } from './protocol/client.js';
import type { MessageIdData } from './protocol/commands.js';
import type { BackgroundEvents } from './protocol/events.js';
import type { Producer } from './protocol/producer.js';
import { Reader, type StartPosition } from './protocol/reader.js';

export interface PulsarWalContext {
  readonly client: PulsarClient;
  readonly admin: PulsarAdmin;
  readonly topic: string;
  readonly truncateSubscription: string;
  /** Readers' bound on incomplete chunked messages. */
  readonly maxChunkedMessageBytes?: number;
  /** The stack's observability, with the pchannel bound. */
  readonly observability: Observability;
  readonly onClosed: (wal: PulsarWal) => void;
}

/** A producer's or reader's background events, as the stack's observability events. */
export function reportTo(
  observability: Observability,
  component: string,
  pchannel: string,
): BackgroundEvents {
  return {
    failed: (error, retrying) => observability.reportError({ error, component, pchannel, retrying }),
    recovered: (message) => observability.logger.info({ component }, message),
  };
}

function toMessageId(data: MessageIdData): MessageID {
  return new PulsarMessageId(data);
}

function startOf(policy: DeliverPolicy): StartPosition {
  switch (policy.kind) {
    case 'all':
      return { kind: 'earliest' };
    case 'latest':
      return { kind: 'latest' };
    case 'startFrom':
      return { kind: 'id', id: asPulsarMessageId(policy.id).data, inclusive: true };
    case 'startAfter':
      return { kind: 'id', id: asPulsarMessageId(policy.id).data, inclusive: false };
    default:
      throw new WalError('INVALID_ARGUMENT', `unknown deliver policy ${JSON.stringify(policy)}`);
  }
}

/**
 * One pchannel (one Pulsar topic) opened at one term. A read-write WAL owns an exclusive producer that
 * claims the term as the topic epoch; readers are non-durable subscriptions that come and go with their
 * scanners. Closing the WAL closes both; the data stays in Pulsar.
 */
export class PulsarWal implements WalImpls {
  readonly walName = PULSAR_WAL_NAME;
  readonly channel: PChannelInfo;
  readonly topic: string;
  readonly #context: PulsarWalContext;
  readonly #producer: Producer | undefined;
  readonly #scanners = new Set<RawScanner>();
  #truncatedTo: PulsarMessageId | undefined;
  #closed: Promise<void> | undefined;

  constructor(context: PulsarWalContext, channel: PChannelInfo, producer: Producer | undefined) {
    this.#context = context;
    this.topic = context.topic;
    this.channel = Object.freeze({ name: channel.name, term: channel.term, accessMode: channel.accessMode });
    this.#producer = producer;
  }

  #closedError(what: string, cause?: unknown): WalError {
    return new WalError('CLOSED', `${what} on closed WAL ${this.channel.name}`, { retriable: false, cause });
  }

  #refuse(what: string, signal: AbortSignal | undefined): WalError | undefined {
    if (this.#closed) return this.#closedError(what);
    if (!this.#producer) {
      return new WalError('READ_ONLY', `${what} on WAL ${this.channel.name} opened read-only`, {
        retriable: false,
      });
    }
    if (signal?.aborted) return abortError(signal, what);
    return undefined;
  }

  // Not `async`: one promise per append (the send's, mapped to an id) instead of two.
  append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
    const signal = options?.signal;
    const refused = this.#refuse('append', signal);
    if (refused) return Promise.reject(refused);
    if (typeof (message as Partial<MutableMessage> | null)?.intoImmutable !== 'function') {
      return Promise.reject(new WalError('INVALID_ARGUMENT', 'append needs a MutableMessage'));
    }
    // The signal withdraws the append only while it is not yet written to the broker (ABORTED: it never
    // lands). Once written, the append waits for its receipt, so the caller learns whether it landed
    // rather than leaving a message in the log it believes failed.
    return this.#producer!.send(message.payload, message.properties, signal).then(toMessageId);
  }

  /**
   * Moves the adapter's durable truncation subscription past `id` (admin REST reset-cursor). With a
   * finite retention policy Pulsar may then delete ledgers wholly before it; the subscription keeps what
   * follows. Never moves backwards.
   */
  async truncate(id: MessageID, options?: AppendOptions): Promise<void> {
    const refused = this.#refuse('truncate', options?.signal);
    if (refused) throw refused;
    const target = asPulsarMessageId(id);
    if (this.#truncatedTo && target.compare(this.#truncatedTo) <= 0) return;
    await this.#context.admin.resetCursorAfter(this.topic, this.#context.truncateSubscription, target.data);
    if (!this.#truncatedTo || target.compare(this.#truncatedTo) > 0) this.#truncatedTo = target;
  }

  async read(options: ReadOptions): Promise<RawScanner> {
    if (this.#closed) throw this.#closedError('read');
    if (options?.signal?.aborted) throw abortError(options.signal, 'read');
    if (typeof options?.name !== 'string' || !options.deliverPolicy) {
      throw new WalError('INVALID_ARGUMENT', 'read needs a name and a deliverPolicy');
    }
    // Checked before anything starts: a positive integer; absent: the default size.
    const size =
      integerOption(
        `read of pchannel ${this.channel.name}`,
        'readAheadBufferSize',
        options.readAheadBufferSize,
        0,
        {
          min: 1,
        },
      ) || DEFAULT_READ_AHEAD_BUFFER_SIZE;
    let reader: Reader;
    try {
      reader = await Reader.create(this.#context.client, {
        topic: this.topic,
        subscription: `walstream-reader-${options.name}`.replace(/[^A-Za-z0-9_.=-]/g, '_'),
        start: startOf(options.deliverPolicy),
        receiverQueueSize: size,
        ...(this.#context.maxChunkedMessageBytes === undefined
          ? {}
          : { maxChunkedMessageBytes: this.#context.maxChunkedMessageBytes }),
        events: reportTo(this.#context.observability, 'pulsar.reader', this.channel.name),
      });
    } catch (error) {
      // Closed while subscribing: the close is the answer, not what it interrupted.
      if (this.#closed) throw this.#closedError('read', error);
      throw error;
    }
    if (this.#closed) {
      await reader.close();
      throw this.#closedError('read');
    }
    const scanner = createRawScanner({
      name: options.name,
      readAheadBufferSize: size,
      fetch: async (sink, signal) => {
        while (!signal.aborted) {
          // Queued messages are handed over without a promise each; only an empty queue waits.
          let received = reader.tryReceive();
          if (!received) {
            try {
              received = await reader.receive(signal);
            } catch (error) {
              if (signal.aborted) return;
              throw error;
            }
          }
          const message = new ImmutableMessage(
            new PulsarMessageId(received.id),
            received.payload,
            received.properties,
          );
          if (!sink.tryPush(message) && !(await sink.push(message))) return;
        }
      },
      release: async () => {
        options.signal?.removeEventListener('abort', onAbort);
        this.#scanners.delete(scanner);
        await reader.close();
      },
    });
    // The read's signal closes the scanner, as the SPI says; the listener goes with the scanner.
    const onAbort = (): void => void scanner.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    this.#scanners.add(scanner);
    return scanner;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled([...this.#scanners].map((scanner) => scanner.close()));
      this.#scanners.clear();
      await this.#producer?.close();
      this.#context.onClosed(this);
      this.#context.observability.logger.debug({}, 'pulsar WAL closed');
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  toString(): string {
    return `PulsarWal(${this.channel.name}@${this.channel.term} on ${this.topic})`;
  }
}
