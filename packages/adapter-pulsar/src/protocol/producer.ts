/**
 * An exclusive producer with pipelined sends. Receipts come back in send order on one connection, so
 * each SEND_RECEIPT settles the oldest pending send with the same sequence id.
 *
 * Fencing uses the topic epoch: the producer claims `topicEpoch = term`, and the broker rejects a claim
 * below the topic's epoch with ProducerFenced and raises the epoch to any higher claim. Attaching tries
 * `Exclusive` first; it evicts a current holder (`ExclusiveWithFencing`) only when that holder may be
 * evicted (see {@link ProducerOptions.mayEvict}). A writer that lost the topic therefore learns it
 * without disturbing the winner, and a newer term takes over from an older one that is still attached.
 *
 * What a failed send means:
 * - CHANNEL_FENCED: it was never written to the broker (queued when the producer learned it lost);
 * - UNAVAILABLE after the connection dropped or the broker closed the producer: it was written and got
 *   no receipt, so it may or may not have landed; it is never re-sent by the client;
 * - SEND_ERROR: that send did not land; it rejects with the broker's error and the connection is reset.
 */
import { WalError } from '@walstream/core';
import { delay, type PulsarClient } from './client.js';
import {
  CommandType,
  closeCommand,
  decodeProducerSuccess,
  type MessageIdData,
  ProducerAccessMode,
  producerCommand,
  type SendError,
  type SendReceipt,
  sendCommand,
} from './commands.js';
import type { Connection, ProducerHandler } from './connection.js';
import { brokerError, unavailable } from './errors.js';
import { encodeFrame, encodePayloadFrame } from './frame.js';
import { encodeMessageMetadata } from './metadata.js';

export interface ProducerOptions {
  readonly topic: string;
  /** Unique per writer instance; the broker logs it and reports it in fencing errors. */
  readonly producerName: string;
  /** The epoch this writer claims (walstream passes the term). */
  readonly topicEpoch: bigint;
  /** Sends that may be in flight before `send` waits for a receipt. Default 1000. */
  readonly maxPendingMessages?: number;
  /**
   * Whether the exclusive producer currently holding the topic (by name) may be evicted: walstream
   * evicts holders of a lower or equal term and yields to higher ones. Our own name always may (a dead
   * session of ours the broker has not noticed yet).
   */
  readonly mayEvict?: (holder: string) => boolean;
}

interface PendingSend {
  readonly sequenceId: number;
  frame: Buffer;
  written: boolean;
  settled: boolean;
  resolve(id: MessageIdData): void;
  reject(error: WalError): void;
  timer: NodeJS.Timeout | undefined;
}

type State = 'attaching' | 'ready' | 'fenced' | 'closed';

export class Producer {
  readonly #client: PulsarClient;
  readonly #options: ProducerOptions;
  readonly #maxPending: number;
  #state: State = 'attaching';
  #connection: Connection | undefined;
  #producerId = 0;
  #sessionEpoch = 0;
  #sequenceId = 0;
  /** Sends in sequence order: written ones first, then those queued while (re)attaching. */
  #pending: PendingSend[] = [];
  #spaceWaiters: (() => void)[] = [];
  #terminal: WalError | undefined;
  #reattaching: Promise<void> | undefined;

  private constructor(client: PulsarClient, options: ProducerOptions) {
    this.#client = client;
    this.#options = options;
    this.#maxPending = options.maxPendingMessages ?? 1000;
  }

  /** Attaches (see {@link Producer.#acquire}). Rejects CHANNEL_FENCED when the topic belongs to a newer writer. */
  static async create(client: PulsarClient, options: ProducerOptions): Promise<Producer> {
    const producer = new Producer(client, options);
    try {
      await producer.#acquire();
    } catch (error) {
      producer.#state = 'closed';
      throw error;
    }
    return producer;
  }

  /**
   * Tries `Exclusive` first, which fails without disturbing anyone when another producer holds the
   * topic. Only when that holder may be evicted does it retry with `ExclusiveWithFencing`, which closes
   * the holder; the broker's epoch check still rejects us if the topic's epoch is above ours. So a stale
   * writer learns it is fenced without knocking the current one off the topic.
   */
  async #acquire(): Promise<void> {
    try {
      await this.#attach(ProducerAccessMode.Exclusive);
      return;
    } catch (error) {
      if (!WalError.is(error) || error.code !== 'CHANNEL_FENCED') throw error;
      const holder = /existing exclusive producer: ([^\s,]+)/.exec(error.message)?.[1];
      const evict =
        holder !== undefined &&
        (holder === this.#options.producerName || (this.#options.mayEvict?.(holder) ?? false));
      if (!evict) throw error;
    }
    await this.#attach(ProducerAccessMode.ExclusiveWithFencing);
  }

  get state(): State {
    return this.#state;
  }

  get maxMessageSize(): number {
    return this.#connection?.maxMessageSize ?? 5 * 1024 * 1024;
  }

  /** Sends one message; resolves with its id once the broker persisted it. */
  async send(payload: Uint8Array, properties: Readonly<Record<string, string>>): Promise<MessageIdData> {
    while (this.#pending.length >= this.#maxPending && !this.#terminal) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
    }
    if (this.#terminal) throw this.#terminal;
    const sequenceId = this.#sequenceId++;
    const metadata = encodeMessageMetadata({
      producerName: this.#options.producerName,
      sequenceId,
      publishTime: Date.now(),
      properties,
    });
    const frame = encodePayloadFrame(sendCommand(this.#producerId, sequenceId, 1), metadata, payload);
    if (frame.length - 4 > this.maxMessageSize + 64 * 1024 || payload.length > this.maxMessageSize) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `message of ${payload.length} bytes exceeds the broker's max message size ${this.maxMessageSize}`,
        { retriable: false },
      );
    }
    return new Promise<MessageIdData>((resolve, reject) => {
      const pending: PendingSend = {
        sequenceId,
        frame,
        written: false,
        settled: false,
        resolve,
        reject,
        timer: undefined,
      };
      this.#pending.push(pending);
      if (this.#state === 'ready' && this.#connection) {
        this.#write(pending);
      } else {
        // Queued while re-attaching: bounded, so an append never waits forever for a broker.
        pending.timer = setTimeout(() => {
          this.#settle(
            pending,
            unavailable(`no producer on ${this.#options.topic} within ${this.#client.operationTimeoutMs} ms`),
          );
        }, this.#client.operationTimeoutMs);
      }
    });
  }

  /** Detaches from the broker; pending sends reject CLOSED. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasReady = this.#state === 'ready';
    this.#state = 'closed';
    this.#terminal ??= new WalError('CLOSED', `producer on ${this.#options.topic} closed`);
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection && wasReady && connection.isOpen) {
      connection.unregisterProducer(this.#producerId);
      const requestId = connection.nextRequestId();
      try {
        await connection.request(
          requestId,
          encodeFrame(closeCommand(CommandType.CLOSE_PRODUCER, this.#producerId, requestId)),
          'closing the producer',
          5_000,
        );
      } catch {
        // Best effort: dropping the dedicated connection below detaches the producer anyway.
      }
    }
    connection?.close();
    this.#failAll(this.#terminal);
  }

  #write(pending: PendingSend): void {
    pending.written = true;
    this.#connection?.write(pending.frame);
  }

  #settle(pending: PendingSend, outcome: WalError | MessageIdData): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    const at = this.#pending.indexOf(pending);
    if (at >= 0) this.#pending.splice(at, 1);
    if (outcome instanceof WalError) pending.reject(outcome);
    else pending.resolve(outcome);
    this.#spaceWaiters.shift()?.();
  }

  #failAll(error: WalError, which: (pending: PendingSend) => boolean = () => true): void {
    for (const pending of [...this.#pending]) if (which(pending)) this.#settle(pending, error);
    if (this.#terminal) for (const wake of this.#spaceWaiters.splice(0)) wake();
  }

  #handler(connection: Connection): ProducerHandler {
    return {
      onReceipt: (receipt: SendReceipt) => {
        const pending = this.#pending.find((p) => p.sequenceId === receipt.sequenceId && p.written);
        if (!pending) return;
        if (!receipt.messageId) {
          this.#settle(pending, unavailable('SEND_RECEIPT without a message id'));
          return;
        }
        this.#settle(pending, receipt.messageId);
      },
      onSendError: (error: SendError) => {
        const pending = this.#pending.find((p) => p.sequenceId === error.sequenceId && p.written);
        if (pending)
          this.#settle(pending, brokerError(error.error, error.message, `send to ${this.#options.topic}`));
        // What was sent after it may or may not have landed: reset, as Pulsar's own clients do.
        connection.close(unavailable(`send to ${this.#options.topic} failed; connection reset`));
      },
      onClose: (reason: WalError, byBroker: boolean) => {
        if (this.#state === 'closed' || this.#state === 'fenced') return;
        if (this.#connection === connection) this.#connection = undefined;
        this.#state = 'attaching';
        // A written send without a receipt may have been persisted (the broker can close a producer
        // while a write to the bookie is still on its way): its fate is unknown, so it fails retriably
        // and is never re-sent. Sends queued but not yet written go out after re-attaching.
        this.#failAll(
          new WalError(
            'UNAVAILABLE',
            `${reason.message}${byBroker ? ' (closed by the broker)' : ''}; the send may or may not have landed`,
            { cause: reason },
          ),
          (p) => p.written,
        );
        connection.close();
        this.#startReattach();
      },
    };
  }

  #startReattach(): void {
    if (this.#reattaching) return;
    this.#reattaching = (async () => {
      const backoff = this.#client.newBackoff();
      while (this.#state === 'attaching') {
        try {
          await this.#acquire();
          return;
        } catch (error) {
          if (this.#state !== 'attaching') return;
          if (WalError.is(error) && (error.code === 'CHANNEL_FENCED' || error.code === 'CHANNEL_NOT_EXIST')) {
            this.#fence(error);
            return;
          }
          await delay(backoff.next());
        }
      }
    })().finally(() => {
      this.#reattaching = undefined;
    });
  }

  #fence(error: WalError): void {
    this.#state = 'fenced';
    this.#terminal = new WalError(
      'CHANNEL_FENCED',
      `producer on ${this.#options.topic} was fenced: ${error.message}`,
      {
        retriable: false,
        cause: error,
      },
    );
    this.#connection?.close();
    this.#connection = undefined;
    this.#failAll(this.#terminal);
  }

  async #attach(accessMode: number): Promise<void> {
    const url = await this.#client.lookup(this.#options.topic);
    const connection = await this.#client.dedicatedConnection(url);
    const producerId = connection.nextResourceId();
    try {
      if (this.#state === 'closed') throw new WalError('CLOSED', 'producer closed');
      const requestId = connection.nextRequestId();
      connection.registerProducer(producerId, this.#handler(connection));
      const answer = await connection.request(
        requestId,
        encodeFrame(
          producerCommand({
            topic: this.#options.topic,
            producerId,
            requestId,
            producerName: this.#options.producerName,
            accessMode,
            topicEpoch: this.#options.topicEpoch,
            epoch: this.#sessionEpoch++,
          }),
        ),
        `creating the producer on ${this.#options.topic}`,
      );
      const success = decodeProducerSuccess(answer.body);
      if (!success.producerReady) {
        throw new WalError('UNAVAILABLE', 'the broker queued the producer instead of attaching it');
      }
      if (this.#state !== 'attaching') throw this.#terminal ?? new WalError('CLOSED', 'producer closed');
      this.#connection = connection;
      this.#producerId = producerId;
      this.#state = 'ready';
      // Sends queued while re-attaching, in order.
      for (const pending of this.#pending) {
        clearTimeout(pending.timer);
        pending.timer = undefined;
        const resent = encodePayloadFrame(
          sendCommand(producerId, pending.sequenceId, 1),
          ...splitForResend(pending.frame),
        );
        pending.frame = resent;
        this.#write(pending);
      }
    } catch (error) {
      // Unregistered first: this attempt's connection closing must not start another re-attachment.
      connection.unregisterProducer(producerId);
      connection.close();
      throw error;
    }
  }
}

/**
 * The metadata and payload of an encoded SEND frame, to re-encode it with the new producer id after a
 * re-attachment (the sequence id and everything the checksum covers stay the same).
 */
function splitForResend(frame: Buffer): [Uint8Array, Uint8Array] {
  const commandSize = frame.readUInt32BE(4);
  const checkedFrom = 8 + commandSize + 2 + 4;
  const metadataSize = frame.readUInt32BE(checkedFrom);
  const metadataFrom = checkedFrom + 4;
  return [
    frame.subarray(metadataFrom, metadataFrom + metadataSize),
    frame.subarray(metadataFrom + metadataSize),
  ];
}
