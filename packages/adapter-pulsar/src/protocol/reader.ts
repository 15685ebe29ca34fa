/**
 * A reader: a non-durable exclusive subscription that starts at a message id. Delivery is paced by FLOW
 * permits, never more than the queue holds, so a slow consumer stops the broker from sending instead of
 * growing memory. Permits go back to the broker as the consumer takes messages (in halves of the
 * queue, as Pulsar's own clients do).
 *
 * The reader remembers the last message it queued. When the connection drops or the broker closes the
 * consumer (unload, seek), it subscribes again from there and drops what it already has, so the
 * consumer sees every message once and in order. The broker's start position is inclusive of the start
 * entry; the reader filters to what was asked (inclusive or exclusive), which also covers batch members.
 */
import { WalError } from '@walstream/core';
import { delay } from '@walstream/core/internal';
import { PulsarMessageId } from '../message-id.js';
import { ChunkAssembler } from './chunks.js';
import type { PulsarClient } from './client.js';
import {
  type CommandMessageBody,
  CommandType,
  closeCommand,
  decodeGetLastMessageIdResponse,
  flowCommand,
  getLastMessageIdCommand,
  InitialPosition,
  type MessageIdData,
  seekCommand,
  subscribeCommand,
} from './commands.js';
import type { Connection, ConsumerHandler } from './connection.js';
import { unavailable } from './errors.js';
import { type BackgroundEvents, IGNORED_EVENTS } from './events.js';
import { encodeFrame } from './frame.js';
import { decodeMessageMetadata, splitEntry } from './metadata.js';

export type StartPosition =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'id'; readonly id: MessageIdData; readonly inclusive: boolean };

export interface ReaderOptions {
  readonly topic: string;
  /** Subscription name; made unique per reader so two readers with one name never collide. */
  readonly subscription: string;
  readonly start: StartPosition;
  /** Messages the broker may push ahead of the consumer. Default 1000. */
  readonly receiverQueueSize?: number;
  /** Subscribing to a missing topic creates it (true) or fails CHANNEL_NOT_EXIST (false, default). */
  readonly createTopic?: boolean;
  /** Told when the reader loses its subscription, re-subscribes, or gives up. */
  readonly events?: BackgroundEvents;
  /** Bound on the chunks of incomplete chunked messages held at once. Default 64 MiB. */
  readonly maxChunkedMessageBytes?: number;
}

export interface ReceivedMessage {
  readonly id: MessageIdData;
  readonly properties: Record<string, string>;
  readonly payload: Uint8Array;
  readonly publishTime: number;
}

/** Order of ids within one topic: (ledger, entry, batch index). */
export function compareIds(a: MessageIdData, b: MessageIdData): number {
  if (a.ledgerId !== b.ledgerId) return a.ledgerId < b.ledgerId ? -1 : 1;
  if (a.entryId !== b.entryId) return a.entryId < b.entryId ? -1 : 1;
  return a.batchIndex - b.batchIndex;
}

const U64_MAX = (1n << 64n) - 1n;
/** Pulsar's "earliest" (-1, -1) and "latest" (Long.MAX, Long.MAX) positions. */
const EARLIEST: MessageIdData = {
  ledgerId: U64_MAX,
  entryId: U64_MAX,
  partition: -1,
  batchIndex: -1,
  batchSize: 0,
};
const LATEST: MessageIdData = {
  ledgerId: (1n << 63n) - 1n,
  entryId: (1n << 63n) - 1n,
  partition: -1,
  batchIndex: -1,
  batchSize: 0,
};

let readerSequence = 0;

/** Above every batch index: the id of an entry's last possible member, to read on after the entry. */
const LAST_MEMBER = 0x7fffffff;

/**
 * A decoding failure with the entry it is about (`details.messageId`, marshalled), so the stack's
 * foreign-records policy can read on after it; the id is past every member of the entry.
 */
function withEntry(error: WalError, entry: MessageIdData): WalError {
  if (error.details.reason === undefined) return error;
  const messageId = new PulsarMessageId({ ...entry, batchIndex: LAST_MEMBER, batchSize: 0 }).marshal();
  return new WalError(error.code, error.message, {
    retriable: error.retriable,
    cause: error.cause,
    details: { ...error.details, messageId },
  });
}

export class Reader {
  readonly #client: PulsarClient;
  readonly #options: ReaderOptions;
  readonly #events: BackgroundEvents;
  readonly #capacity: number;
  readonly #subscription: string;
  #connection: Connection | undefined;
  #consumerId = 0;
  /** Where a (re)subscription starts, and whether that id itself is wanted. */
  #resume: StartPosition;
  #queue: ReceivedMessage[] = [];
  #head = 0;
  #permitsToReturn = 0;
  #waiter: { resolve(): void } | undefined;
  #failure: WalError | undefined;
  #closed = false;
  #resubscribing: Promise<void> | undefined;
  readonly #chunks: ChunkAssembler;

  private constructor(client: PulsarClient, options: ReaderOptions) {
    this.#client = client;
    this.#options = options;
    this.#events = options.events ?? IGNORED_EVENTS;
    this.#capacity = Math.max(1, options.receiverQueueSize ?? 1000);
    this.#subscription = `${options.subscription}-${process.pid}-${++readerSequence}`;
    this.#resume = options.start;
    this.#chunks = new ChunkAssembler(options.maxChunkedMessageBytes ?? 64 * 1024 * 1024);
  }

  /** Chunked messages given up on (incomplete, out of sequence, or evicted by the memory bound). */
  get droppedChunkedMessages(): number {
    return this.#chunks.dropped;
  }

  static async create(client: PulsarClient, options: ReaderOptions): Promise<Reader> {
    const reader = new Reader(client, options);
    try {
      await reader.#subscribe();
    } catch (error) {
      reader.#closed = true;
      throw error;
    }
    return reader;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** The next queued message without waiting, or undefined when none is queued. */
  tryReceive(): ReceivedMessage | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const message = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as ReceivedMessage;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 512 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#returnPermits(1);
    return message;
  }

  /** The next message; waits for one. Rejects once the reader failed (after queued messages) or closed. */
  async receive(signal?: AbortSignal): Promise<ReceivedMessage> {
    for (;;) {
      const queued = this.tryReceive();
      if (queued) return queued;
      if (this.#closed) throw new WalError('CLOSED', `reader of ${this.#options.topic} closed`);
      if (this.#failure) throw this.#failure;
      if (signal?.aborted) throw new WalError('CLOSED', 'receive aborted', { cause: signal.reason });
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          this.#waiter = undefined;
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiter = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
      });
    }
  }

  /** The id of the last entry in the topic (ledger and entry of -1 on an empty topic's first ledger). */
  async getLastMessageId(): Promise<MessageIdData> {
    const connection = await this.#ready();
    const requestId = connection.nextRequestId();
    const answer = await connection.request(
      requestId,
      encodeFrame(getLastMessageIdCommand(this.#consumerId, requestId)),
      `last message id of ${this.#options.topic}`,
    );
    return decodeGetLastMessageIdResponse(answer.body);
  }

  /**
   * Moves the reader to `id` (inclusive). SEEK resets the broker's cursor; the broker then detaches the
   * consumer, so the reader drops what it queued and subscribes again from the new position.
   */
  async seek(id: MessageIdData): Promise<void> {
    const connection = await this.#ready();
    const consumerId = this.#consumerId;
    // Detached from our side first: the broker's CLOSE_CONSUMER after the seek may arrive in the same
    // chunk as the SUCCESS, and must not start a resubscription from the old position.
    connection.unregisterConsumer(consumerId);
    this.#connection = undefined;
    const requestId = connection.nextRequestId();
    try {
      await connection.request(
        requestId,
        encodeFrame(seekCommand(consumerId, requestId, id)),
        `seek on ${this.#options.topic}`,
      );
      this.#resume = { kind: 'id', id, inclusive: true };
      this.#queue = [];
      this.#head = 0;
      this.#permitsToReturn = 0;
      this.#chunks.restart();
    } finally {
      await this.#detach(connection, consumerId);
      await this.#resubscribe();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    this.#wake();
    if (connection) await this.#detach(connection, this.#consumerId);
  }

  async #detach(connection: Connection, consumerId: number): Promise<void> {
    connection.unregisterConsumer(consumerId);
    if (this.#connection === connection) this.#connection = undefined;
    if (!connection.isOpen) return;
    const requestId = connection.nextRequestId();
    try {
      await connection.request(
        requestId,
        encodeFrame(closeCommand(CommandType.CLOSE_CONSUMER, consumerId, requestId)),
        'closing the reader',
        5_000,
      );
    } catch {
      // Already gone on the broker (it closes consumers on seek) or the connection dropped: both fine.
    }
  }

  async #ready(): Promise<Connection> {
    for (;;) {
      if (this.#closed) throw new WalError('CLOSED', `reader of ${this.#options.topic} closed`);
      if (this.#failure) throw this.#failure;
      if (this.#connection?.isOpen) return this.#connection;
      await (this.#resubscribing ?? this.#resubscribe());
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  #returnPermits(count: number): void {
    this.#permitsToReturn += count;
    if (this.#permitsToReturn * 2 >= this.#capacity && this.#connection?.isOpen) {
      this.#connection.write(encodeFrame(flowCommand(this.#consumerId, this.#permitsToReturn)));
      this.#permitsToReturn = 0;
    }
  }

  /** Whether a message at `id` is past the resume position (and so new to the consumer). */
  #wanted(id: MessageIdData): boolean {
    const resume = this.#resume;
    if (resume.kind !== 'id') return true;
    const order = compareIds(id, resume.id);
    return resume.inclusive ? order >= 0 : order > 0;
  }

  #handler(connection: Connection, consumerId: number): ConsumerHandler {
    return {
      onMessage: (message: CommandMessageBody, metadataBytes: Uint8Array, entryPayload: Uint8Array) => {
        if (this.#connection !== connection || this.#consumerId !== consumerId || this.#closed) return;
        let payload = entryPayload;
        let metadata = decodeMessageMetadata(metadataBytes);
        if (metadata.markerType !== undefined) {
          this.#returnPermits(1);
          return;
        }
        let entryId: MessageIdData = message.messageId;
        // An entry wholly before the resume position is not decoded at all (a reader that re-reads
        // after an entry it could not decode starts at that entry: the broker's start is inclusive).
        if (!this.#wanted({ ...entryId, batchIndex: LAST_MEMBER })) {
          this.#returnPermits(metadata.numMessagesInBatch ?? 1);
          return;
        }
        let members: ReturnType<typeof splitEntry>;
        try {
          if (metadata.chunk) {
            const whole = this.#chunks.add(metadata, payload, message.messageId);
            if (!whole) {
              this.#returnPermits(1);
              return;
            }
            metadata = { ...whole.metadata, chunk: undefined };
            payload = whole.payload;
            entryId = whole.id;
          }
          members = splitEntry(metadata, payload);
        } catch (error) {
          this.#fail(
            WalError.is(error) ? withEntry(error, entryId) : unavailable('cannot decode an entry', error),
          );
          return;
        }
        const permits = metadata.numMessagesInBatch ?? 1;
        let kept = 0;
        for (const member of members) {
          const id: MessageIdData = {
            ...entryId,
            batchIndex: member.batchIndex,
            batchSize: member.batchSize,
          };
          if (!this.#wanted(id)) continue;
          this.#queue.push({
            id,
            properties: member.properties,
            // A copy: the frame's buffer holds a whole socket chunk that must not stay alive with it.
            payload: Uint8Array.prototype.slice.call(member.payload),
            publishTime: metadata.publishTime,
          });
          this.#resume = { kind: 'id', id, inclusive: false };
          kept++;
        }
        if (permits > kept) this.#returnPermits(permits - kept);
        if (kept > 0) this.#wake();
      },
      // Connection lost or the broker detached us (unload, seek): subscribe again from where we are.
      onClose: (reason: WalError) => {
        if (this.#connection !== connection || this.#consumerId !== consumerId) return;
        this.#connection = undefined;
        if (this.#closed) return;
        this.#events.failed(
          new WalError(
            'UNAVAILABLE',
            `reader of ${this.#options.topic} lost its subscription: ${reason.message}; re-subscribing`,
            { cause: reason },
          ),
          true,
        );
        this.#resubscribe().catch(() => {});
      },
    };
  }

  #fail(error: WalError): void {
    if (this.#failure) return;
    this.#failure = error;
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection) void this.#detach(connection, this.#consumerId);
    this.#wake();
  }

  /** Subscribes again, retrying with backoff until it works, the reader closes, or the budget is spent. */
  #resubscribe(): Promise<void> {
    this.#resubscribing ??= (async () => {
      const backoff = this.#client.newBackoff();
      const deadline = Date.now() + this.#client.operationTimeoutMs;
      for (;;) {
        if (this.#closed || this.#failure) return;
        try {
          await this.#subscribe();
          this.#events.recovered(`reader of ${this.#options.topic} re-subscribed`);
          return;
        } catch (error) {
          const coded = WalError.is(error) ? error : unavailable('subscribe failed', error);
          if (!coded.retriable || Date.now() >= deadline || this.#client.closed) {
            const failure = coded.retriable
              ? new WalError(
                  'UNAVAILABLE',
                  `reader of ${this.#options.topic} could not reconnect: ${coded.message}`,
                  { cause: coded },
                )
              : coded;
            this.#fail(failure);
            if (!this.#closed && !this.#client.closed) this.#events.failed(failure, false);
            return;
          }
          await delay(backoff.next());
        }
      }
    })().finally(() => {
      this.#resubscribing = undefined;
    });
    return this.#resubscribing;
  }

  async #subscribe(): Promise<void> {
    const url = await this.#client.lookup(this.#options.topic);
    const connection = await this.#client.connection(url);
    if (this.#closed) return;
    const consumerId = connection.nextResourceId();
    const requestId = connection.nextRequestId();
    const resume = this.#resume;
    // Incomplete chunked messages need their first chunks again; what was delivered since is filtered.
    const chunkStart = this.#chunks.restart();
    const startMessageId =
      chunkStart ?? (resume.kind === 'earliest' ? EARLIEST : resume.kind === 'latest' ? LATEST : resume.id);
    this.#connection = connection;
    this.#consumerId = consumerId;
    connection.registerConsumer(consumerId, this.#handler(connection, consumerId));
    try {
      await connection.request(
        requestId,
        encodeFrame(
          subscribeCommand({
            topic: this.#options.topic,
            subscription: this.#subscription,
            consumerId,
            requestId,
            consumerName: this.#subscription,
            durable: false,
            startMessageId,
            initialPosition: resume.kind === 'latest' ? InitialPosition.Latest : InitialPosition.Earliest,
            forceTopicCreation: this.#options.createTopic ?? false,
          }),
        ),
        `subscribing to ${this.#options.topic}`,
      );
    } catch (error) {
      connection.unregisterConsumer(consumerId);
      if (this.#connection === connection && this.#consumerId === consumerId) this.#connection = undefined;
      throw error;
    }
    if (this.#closed) {
      await this.#detach(connection, consumerId);
      return;
    }
    // Only room that is free: what is still queued counts against the queue.
    const permits = Math.max(0, this.#capacity - this.queued);
    this.#permitsToReturn = 0;
    if (permits > 0) connection.write(encodeFrame(flowCommand(consumerId, permits)));
  }
}
