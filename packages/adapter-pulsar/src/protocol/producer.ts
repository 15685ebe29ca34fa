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
 * - ABORTED: its signal fired before it was written to the broker (while it waited for room in the
 *   window or for the producer to re-attach), so it never lands. A send already written is not
 *   abandoned when its signal fires: it waits for its receipt, so its caller learns the outcome;
 * - CHANNEL_FENCED: the broker fenced this producer. `details.written: false` for a send never written
 *   to the broker (queued when the producer learned it lost, or sent after); `'unknown'` for one written
 *   without a receipt before the connection or the attachment was lost (it may have landed before the
 *   fence);
 * - UNAVAILABLE (`details.written: 'unknown'`) after the connection dropped or the broker closed the
 *   producer, once the producer re-attached (so it was not fenced) or `operationTimeoutMs` passed first:
 *   it was written and got no receipt, so it may or may not have landed; it is never re-sent by the
 *   client. Until then it waits: whether the re-attachment finds the topic fenced decides its code;
 * - SEND_ERROR: that send did not land; it rejects with the broker's error and the connection is reset.
 */
import { WalError } from '@walstream/core';
import { delay } from '@walstream/core/internal';
import { abortError } from '@walstream/core/spi';
import { compressPayload, type PulsarCompression } from '../codecs/index.js';
import type { PulsarClient } from './client.js';
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
import { type BackgroundEvents, IGNORED_EVENTS } from './events.js';
import { encodeFrame, encodePayloadFrame, encodeSendFrame } from './frame.js';

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
  /**
   * The names of the producers attached to the topic (the admin API's topic stats). Asked when the
   * broker refuses an exclusive attach without naming the holder ("existing shared producers").
   */
  readonly attachedProducers?: () => Promise<readonly string[]>;
  /** Told when the producer loses its connection, re-attaches, or learns in the background it was fenced. */
  readonly events?: BackgroundEvents;
  /** Codec of the payloads (prepared by the caller: `prepareCompression`). Default none. */
  readonly compression?: PulsarCompression;
}

interface PendingSend {
  readonly sequenceId: number;
  frame: Buffer;
  written: boolean;
  settled: boolean;
  resolve(id: MessageIdData): void;
  reject(error: WalError): void;
  timer: NodeJS.Timeout | undefined;
  /** Written, then its connection or attachment was lost before the receipt: it may have landed. */
  inDoubt: WalError | undefined;
  /** While the send waits unwritten: its signal, and the listener that withdraws it. */
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const textEncoder = new TextEncoder();
/** Attempts while the broker reports a producer it is still removing ("existing shared producers"). */
const SHARED_RETRIES = 10;

type State = 'attaching' | 'ready' | 'fenced' | 'closed';

export class Producer {
  readonly #client: PulsarClient;
  readonly #options: ProducerOptions;
  readonly #maxPending: number;
  readonly #events: BackgroundEvents;
  #state: State = 'attaching';
  #connection: Connection | undefined;
  #producerId = 0;
  #sessionEpoch = 0;
  #sequenceId = 0;
  /**
   * Sends in sequence order: written ones first, then those queued while (re)attaching. A queue with a
   * moving head: receipts settle the oldest send, so settling is O(1); settled entries in the middle
   * (timeouts, aborts) are skipped and dropped when the head passes them.
   */
  #pending: (PendingSend | undefined)[] = [];
  #head = 0;
  /** Unsettled sends in {@link #pending}: what counts against the window. */
  #inFlight = 0;
  #spaceWaiters: (() => void)[] = [];
  readonly #producerNameBytes: Uint8Array;
  #terminal: WalError | undefined;
  #reattaching: Promise<void> | undefined;

  private constructor(client: PulsarClient, options: ProducerOptions) {
    this.#client = client;
    this.#options = options;
    this.#maxPending = options.maxPendingMessages ?? 1000;
    this.#events = options.events ?? IGNORED_EVENTS;
    this.#producerNameBytes = textEncoder.encode(options.producerName);
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
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#attach(ProducerAccessMode.Exclusive);
        return;
      } catch (error) {
        if (!WalError.is(error) || error.code !== 'CHANNEL_FENCED') throw error;
        if (!/existing shared producers/.test(error.message)) {
          const holder = /existing exclusive producer: ([^\s,]+)/.exec(error.message)?.[1];
          await this.#evictOrThrow(holder === undefined ? [] : [holder], error);
          return;
        }
        // Only exclusive producers write our topics, yet the broker says "shared": it forgets that the
        // topic has an exclusive producer when it removes an evicted one late (that one still had sends
        // in flight), while the new holder stays attached. The stats name who is attached.
        const holders = await this.#attachedProducers();
        if (holders.length > 0) {
          await this.#evictOrThrow(holders, error);
          return;
        }
        // Nobody listed: the broker is between removing a producer and forgetting it.
        if (attempt >= SHARED_RETRIES) throw error;
        await delay(20 * attempt);
      }
    }
  }

  /** The attached producers' names, or none when the stats cannot be read. */
  async #attachedProducers(): Promise<readonly string[]> {
    try {
      return (await this.#options.attachedProducers?.()) ?? [];
    } catch {
      return [];
    }
  }

  /** Takes the topic with `ExclusiveWithFencing` when every holder may be evicted; otherwise `error` stands. */
  async #evictOrThrow(holders: readonly string[], error: WalError): Promise<void> {
    const mayEvict = (holder: string) =>
      holder === this.#options.producerName || (this.#options.mayEvict?.(holder) ?? false);
    if (holders.length === 0 || !holders.every(mayEvict)) throw error;
    await this.#attach(ProducerAccessMode.ExclusiveWithFencing);
  }

  get state(): State {
    return this.#state;
  }

  get maxMessageSize(): number {
    return this.#connection?.maxMessageSize ?? 5 * 1024 * 1024;
  }

  /**
   * Sends one message; resolves with its id once the broker persisted it. `signal` withdraws the send
   * while it has not been written (ABORTED, it never lands); once written it waits for its receipt.
   */
  send(
    payload: Uint8Array,
    properties: Readonly<Record<string, string>>,
    signal?: AbortSignal,
  ): Promise<MessageIdData> {
    if (this.#inFlight >= this.#maxPending && !this.#terminal) {
      return this.#sendWhenRoom(payload, properties, signal);
    }
    try {
      return this.#enqueue(payload, properties, signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #sendWhenRoom(
    payload: Uint8Array,
    properties: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
  ): Promise<MessageIdData> {
    while (this.#inFlight >= this.#maxPending && !this.#terminal) await this.#room(signal);
    return this.#enqueue(payload, properties, signal);
  }

  /** Resolves when a send settled (there may be room), rejects ABORTED when `signal` fires first. */
  #room(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal, 'append'));
    return new Promise<void>((resolve, reject) => {
      if (!signal) {
        this.#spaceWaiters.push(resolve);
        return;
      }
      const onAbort = () => {
        const at = this.#spaceWaiters.indexOf(wake);
        if (at >= 0) this.#spaceWaiters.splice(at, 1);
        reject(abortError(signal, 'append'));
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#spaceWaiters.push(wake);
    });
  }

  #enqueue(
    payload: Uint8Array,
    properties: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
  ): Promise<MessageIdData> {
    if (this.#terminal) throw this.#terminal;
    if (signal?.aborted) throw abortError(signal, 'append');
    const maxMessageSize = this.maxMessageSize;
    if (payload.length > maxMessageSize) throw tooLarge(payload.length, maxMessageSize);
    const sequenceId = this.#sequenceId;
    const codec = this.#options.compression ?? 'none';
    const sent = codec === 'none' ? undefined : compressPayload(codec, payload);
    const frame = encodeSendFrame(
      this.#producerId,
      sequenceId,
      this.#producerNameBytes,
      Date.now(),
      properties,
      sent?.payload ?? payload,
      sent && sent.type !== 0 ? { type: sent.type, uncompressedSize: payload.length } : undefined,
    );
    if (frame.length - 4 > maxMessageSize + 64 * 1024) throw tooLarge(payload.length, maxMessageSize);
    this.#sequenceId++;
    return new Promise<MessageIdData>((resolve, reject) => {
      const pending: PendingSend = {
        sequenceId,
        frame,
        written: false,
        settled: false,
        resolve,
        reject,
        timer: undefined,
        inDoubt: undefined,
        signal: undefined,
        onAbort: undefined,
      };
      this.#pending.push(pending);
      this.#inFlight++;
      if (this.#state === 'ready' && this.#connection) {
        this.#write(pending);
        return;
      }
      // Queued while re-attaching: bounded, so an append never waits forever for a broker ...
      pending.timer = setTimeout(() => {
        this.#settle(
          pending,
          withWritten(
            unavailable(`no producer on ${this.#options.topic} within ${this.#client.operationTimeoutMs} ms`),
            false,
          ),
        );
      }, this.#client.operationTimeoutMs);
      // ... and withdrawn, never to be written, when its signal fires first.
      if (signal) {
        pending.signal = signal;
        pending.onAbort = () => {
          if (!pending.written) this.#settle(pending, abortError(signal, 'append'));
        };
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
    });
  }

  /** Detaches from the broker; pending sends reject CLOSED. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasReady = this.#state === 'ready';
    this.#state = 'closed';
    this.#terminal ??= new WalError('CLOSED', `producer on ${this.#options.topic} closed`, {
      details: { written: false },
    });
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

  /** `error` for a send that was never written; marked unknown for one that may have landed. */
  #outcomeFor(pending: PendingSend, error: WalError): WalError {
    if (!pending.written) return withWritten(error, false);
    return withWritten(error, 'unknown');
  }

  #write(pending: PendingSend): void {
    pending.written = true;
    this.#unwatch(pending);
    this.#connection?.write(pending.frame);
  }

  #unwatch(pending: PendingSend): void {
    if (pending.onAbort) {
      pending.signal!.removeEventListener('abort', pending.onAbort);
      pending.onAbort = undefined;
      pending.signal = undefined;
    }
  }

  #settle(pending: PendingSend, outcome: WalError | MessageIdData): void {
    if (pending.settled) return;
    pending.settled = true;
    this.#inFlight--;
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    this.#unwatch(pending);
    this.#dropSettledHead();
    if (outcome instanceof WalError) pending.reject(outcome);
    else pending.resolve(outcome);
    this.#spaceWaiters.shift()?.();
  }

  /** Advances the head past settled sends; compacts the array once most of it is behind the head. */
  #dropSettledHead(): void {
    const queue = this.#pending;
    while (this.#head < queue.length && queue[this.#head]!.settled) queue[this.#head++] = undefined;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#pending = queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Unsettled sends in sequence order (a snapshot: settling while iterating is fine). */
  #unsettled(): PendingSend[] {
    const list: PendingSend[] = [];
    for (let i = this.#head; i < this.#pending.length; i++) {
      const pending = this.#pending[i];
      if (pending && !pending.settled) list.push(pending);
    }
    return list;
  }

  /** The written, unsettled send with `sequenceId`: the oldest one, unless receipts arrive out of order. */
  #written(sequenceId: number): PendingSend | undefined {
    const queue = this.#pending;
    for (let i = this.#head; i < queue.length; i++) {
      const pending = queue[i];
      if (!pending || pending.settled) continue;
      if (pending.sequenceId === sequenceId) return pending.written ? pending : undefined;
      // Sequence ids grow along the queue: past it, the receipt is for a send that is already settled.
      if (pending.sequenceId > sequenceId) return undefined;
    }
    return undefined;
  }

  #failAll(error: WalError, which: (pending: PendingSend) => boolean = () => true): void {
    for (const pending of this.#unsettled())
      if (which(pending)) this.#settle(pending, this.#outcomeFor(pending, error));
    if (this.#terminal) for (const wake of this.#spaceWaiters.splice(0)) wake();
  }

  #handler(connection: Connection): ProducerHandler {
    return {
      onReceipt: (receipt: SendReceipt) => {
        const pending = this.#written(receipt.sequenceId);
        if (!pending) return;
        if (!receipt.messageId) {
          this.#settle(pending, unavailable('SEND_RECEIPT without a message id'));
          return;
        }
        this.#settle(pending, receipt.messageId);
      },
      onSendError: (error: SendError) => {
        const pending = this.#written(error.sequenceId);
        if (pending) {
          const refused = brokerError(error.error, error.message, `send to ${this.#options.topic}`);
          this.#settle(pending, withWritten(refused, false));
        }
        // What was sent after it may or may not have landed: reset, as Pulsar's own clients do.
        connection.close(unavailable(`send to ${this.#options.topic} failed; connection reset`));
      },
      onClose: (reason: WalError, byBroker: boolean) => {
        if (this.#state === 'closed' || this.#state === 'fenced') return;
        if (this.#connection === connection) this.#connection = undefined;
        this.#state = 'attaching';
        this.#events.failed(
          new WalError(
            'UNAVAILABLE',
            `producer on ${this.#options.topic} lost its ${byBroker ? 'attachment (closed by the broker)' : 'connection'}: ${reason.message}; re-attaching`,
            { cause: reason },
          ),
          true,
        );
        // A written send without a receipt may have been persisted (the broker can close a producer
        // while a write to the bookie is still on its way): its fate is unknown and it is never re-sent.
        // It waits for the re-attachment: CHANNEL_FENCED (outcome unknown) if the topic turns out to be
        // fenced — else a caller that retries while `retriable` would keep writing to a producer the
        // broker already fenced — and UNAVAILABLE once re-attached or after the operation timeout.
        // Sends queued but not yet written go out after re-attaching.
        const lost = new WalError(
          'UNAVAILABLE',
          `${reason.message}${byBroker ? ' (closed by the broker)' : ''}; the send may or may not have landed`,
          { cause: reason, details: { written: 'unknown' } },
        );
        for (const pending of this.#unsettled()) {
          if (!pending.written || pending.inDoubt) continue;
          pending.inDoubt = lost;
          pending.timer = setTimeout(() => this.#settle(pending, lost), this.#client.operationTimeoutMs);
        }
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
          this.#events.recovered(`producer on ${this.#options.topic} re-attached`);
          return;
        } catch (error) {
          if (this.#state !== 'attaching') return;
          if (WalError.is(error) && (error.code === 'CHANNEL_FENCED' || error.code === 'CHANNEL_NOT_EXIST')) {
            this.#fence(error);
            this.#events.failed(this.#terminal!, false);
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
      { retriable: false, cause: error, details: { written: false } },
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
      // Not fenced: the sends written on the lost connection stay unknown and retriable.
      for (const pending of this.#unsettled()) if (pending.inDoubt) this.#settle(pending, pending.inDoubt);
      // Sends queued while re-attaching, in order.
      for (const pending of this.#unsettled()) {
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

/** `error` with `details.written` set (a copy; the same error may answer several sends). */
function withWritten(error: WalError, written: false | 'unknown'): WalError {
  if (error.details.written === written) return error;
  return new WalError(error.code, error.message, {
    retriable: error.retriable,
    cause: error.cause,
    details: { ...error.details, written },
  });
}

function tooLarge(size: number, max: number): WalError {
  return new WalError(
    'INVALID_ARGUMENT',
    `message of ${size} bytes exceeds the broker's max message size ${max}`,
    {
      retriable: false,
    },
  );
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
