/**
 * One TCP connection to a broker: the CONNECT handshake, request/response matching by `request_id`,
 * routing of producer and consumer traffic by their ids, PING/PONG keep-alive, and one way to end:
 * whatever goes wrong (socket error, malformed frame, keep-alive timeout, close()) fails every pending
 * request and tells every producer and consumer on it, with a coded error. Nothing here throws into the
 * event loop, so a misbehaving broker cannot crash the process.
 */
import { Socket } from 'node:net';
import { WalError } from '@walstream/core';
import {
  type CommandMessageBody,
  CommandType,
  connectCommand,
  decodeCommandMessage,
  decodeConnected,
  decodeError,
  decodeSendError,
  decodeSendReceipt,
  PING,
  PONG,
  type RawCommand,
  requestIdOf,
  resourceIdOf,
  type SendError,
  type SendReceipt,
} from './commands.js';
import { brokerError, unavailable } from './errors.js';
import { DEFAULT_MAX_MESSAGE_SIZE, encodeFrame, FRAME_PADDING, type Frame, FrameDecoder } from './frame.js';

export interface ConnectionOptions {
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** PING after this much silence; close after twice as much. */
  readonly keepAliveMs: number;
  readonly clientVersion: string;
}

export const DEFAULT_CONNECTION_OPTIONS: ConnectionOptions = {
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveMs: 30_000,
  clientVersion: 'walstream-pulsar/0.0.0',
};

export interface ProducerHandler {
  onReceipt(receipt: SendReceipt): void;
  onSendError(error: SendError): void;
  /** The broker closed the producer (`byBroker`) or the connection ended. */
  onClose(reason: WalError, byBroker: boolean): void;
}

export interface ConsumerHandler {
  onMessage(message: CommandMessageBody, metadata: Uint8Array, payload: Uint8Array): void;
  onClose(reason: WalError, byBroker: boolean): void;
  onEndOfTopic?(): void;
}

interface Pending {
  resolve(command: RawCommand): void;
  reject(error: WalError): void;
  timer: NodeJS.Timeout;
  what: string;
}

export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
}

/** `pulsar://host:port` → address. `pulsar+ssl` is rejected: TLS is not implemented. */
export function parseServiceUrl(url: string): BrokerAddress {
  const match = /^pulsar:\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(url.trim());
  if (!match) {
    throw new WalError('INVALID_ARGUMENT', `not a pulsar://host:port service URL: ${JSON.stringify(url)}`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

export class Connection {
  readonly url: string;
  readonly #socket: Socket;
  readonly #options: ConnectionOptions;
  readonly #decoder = new FrameDecoder();
  readonly #pending = new Map<number, Pending>();
  readonly #producers = new Map<number, ProducerHandler>();
  readonly #consumers = new Map<number, ConsumerHandler>();
  #requestId = 0;
  #resourceId = 0;
  #closeReason: WalError | undefined;
  #onClosed: ((reason: WalError) => void)[] = [];
  #keepAlive: NodeJS.Timeout | undefined;
  #heardSince = true;
  #silentTicks = 0;
  #corked = false;
  serverVersion = '';
  maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE;

  private constructor(url: string, socket: Socket, options: ConnectionOptions) {
    this.url = url;
    this.#socket = socket;
    this.#options = options;
  }

  /** Connects and completes the CONNECT handshake. Rejects UNAVAILABLE or TIMEOUT. */
  static open(url: string, options: ConnectionOptions = DEFAULT_CONNECTION_OPTIONS): Promise<Connection> {
    const address = parseServiceUrl(url);
    return new Promise<Connection>((resolve, reject) => {
      const socket = new Socket();
      const connection = new Connection(url, socket, options);
      let handshaking = true;
      const timer = setTimeout(() => {
        connection.close(
          new WalError('TIMEOUT', `no CONNECTED from ${url} within ${options.connectTimeoutMs} ms`),
        );
      }, options.connectTimeoutMs);
      connection.#handshake = (error) => {
        if (!handshaking) return;
        handshaking = false;
        clearTimeout(timer);
        if (error) reject(error);
        else {
          connection.#startKeepAlive();
          resolve(connection);
        }
      };
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => connection.#onData(chunk));
      socket.on('error', (error) =>
        connection.close(unavailable(`connection to ${url} failed: ${error.message}`, error)),
      );
      socket.on('close', () => connection.close(unavailable(`connection to ${url} closed`)));
      socket.connect(address.port, address.host, () => {
        socket.write(encodeFrame(connectCommand(options.clientVersion)));
      });
    });
  }

  #handshake: (error?: WalError) => void = () => {};

  get isOpen(): boolean {
    return this.#closeReason === undefined;
  }

  get closeReason(): WalError | undefined {
    return this.#closeReason;
  }

  /** Calls `listener` once the connection ended (at once if it already has). */
  onClosed(listener: (reason: WalError) => void): void {
    if (this.#closeReason) listener(this.#closeReason);
    else this.#onClosed.push(listener);
  }

  nextRequestId(): number {
    return ++this.#requestId;
  }

  /** Producer and consumer ids are per connection; one counter serves both. */
  nextResourceId(): number {
    return ++this.#resourceId;
  }

  /** Writes a frame; frames written in one tick leave in one syscall. */
  write(frame: Uint8Array): void {
    if (this.#closeReason) return;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(frame);
  }

  /**
   * Sends a request carrying `requestId` and resolves with the answer (SUCCESS, PRODUCER_SUCCESS,
   * LOOKUP_RESPONSE, ...). ERROR rejects with the broker's error, coded.
   */
  request(
    requestId: number,
    frame: Uint8Array,
    what: string,
    timeoutMs = this.#options.requestTimeoutMs,
  ): Promise<RawCommand> {
    if (this.#closeReason) return Promise.reject(this.#closeReason);
    return new Promise<RawCommand>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new WalError('TIMEOUT', `${what}: no answer from ${this.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer, what });
      this.write(frame);
    });
  }

  registerProducer(id: number, handler: ProducerHandler): void {
    this.#producers.set(id, handler);
  }

  unregisterProducer(id: number): void {
    this.#producers.delete(id);
  }

  registerConsumer(id: number, handler: ConsumerHandler): void {
    this.#consumers.set(id, handler);
  }

  unregisterConsumer(id: number): void {
    this.#consumers.delete(id);
  }

  get handlerCount(): number {
    return this.#producers.size + this.#consumers.size;
  }

  /** Ends the connection; idempotent. Everything pending fails with `reason`. */
  close(reason: WalError = new WalError('CLOSED', `connection to ${this.url} closed by the client`)): void {
    if (this.#closeReason) return;
    this.#closeReason = reason;
    clearInterval(this.#keepAlive);
    this.#socket.destroy();
    this.#handshake(reason);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
    this.#pending.clear();
    const producers = [...this.#producers.values()];
    const consumers = [...this.#consumers.values()];
    this.#producers.clear();
    this.#consumers.clear();
    for (const handler of [...producers, ...consumers]) safely(() => handler.onClose(reason, false));
    const listeners = this.#onClosed;
    this.#onClosed = [];
    for (const listener of listeners) safely(() => listener(reason));
  }

  #startKeepAlive(): void {
    this.#keepAlive = setInterval(() => {
      if (this.#heardSince) {
        this.#heardSince = false;
        this.#silentTicks = 0;
        return;
      }
      this.#silentTicks++;
      if (this.#silentTicks >= 2) {
        this.close(unavailable(`no traffic from ${this.url} for ${2 * this.#options.keepAliveMs} ms`));
      } else {
        this.write(encodeFrame(PING));
      }
    }, this.#options.keepAliveMs);
    this.#keepAlive.unref();
  }

  #onData(chunk: Buffer): void {
    if (this.#closeReason) return;
    this.#heardSince = true;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.close(WalError.is(error) ? error : unavailable(`bad data from ${this.url}`, error));
      return;
    }
    for (const frame of frames) {
      try {
        this.#dispatch(frame);
      } catch (error) {
        this.close(WalError.is(error) ? error : unavailable(`cannot handle a frame from ${this.url}`, error));
        return;
      }
      if (this.#closeReason) return;
    }
  }

  #dispatch(frame: Frame): void {
    const { type, body } = frame.command;
    switch (type) {
      case CommandType.CONNECTED: {
        const connected = decodeConnected(body);
        this.serverVersion = connected.serverVersion;
        if (connected.maxMessageSize && connected.maxMessageSize > 0) {
          this.maxMessageSize = connected.maxMessageSize;
          this.#decoder.maxFrameSize = connected.maxMessageSize + FRAME_PADDING;
        }
        this.#handshake();
        return;
      }
      case CommandType.PING:
        this.write(encodeFrame(PONG));
        return;
      case CommandType.PONG:
        return;
      case CommandType.MESSAGE: {
        const message = decodeCommandMessage(body);
        if (!frame.metadata || !frame.payload) throw unavailable('MESSAGE frame without a payload section');
        this.#consumers.get(message.consumerId)?.onMessage(message, frame.metadata, frame.payload);
        return;
      }
      case CommandType.SEND_RECEIPT: {
        const receipt = decodeSendReceipt(body);
        this.#producers.get(receipt.producerId)?.onReceipt(receipt);
        return;
      }
      case CommandType.SEND_ERROR: {
        const error = decodeSendError(body);
        this.#producers.get(error.producerId)?.onSendError(error);
        return;
      }
      case CommandType.CLOSE_PRODUCER: {
        const id = resourceIdOf(body);
        const handler = id === undefined ? undefined : this.#producers.get(id);
        if (id !== undefined) this.#producers.delete(id);
        handler?.onClose(unavailable(`the broker closed producer ${id} on ${this.url}`), true);
        return;
      }
      case CommandType.CLOSE_CONSUMER: {
        const id = resourceIdOf(body);
        const handler = id === undefined ? undefined : this.#consumers.get(id);
        if (id !== undefined) this.#consumers.delete(id);
        handler?.onClose(unavailable(`the broker closed consumer ${id} on ${this.url}`), true);
        return;
      }
      case CommandType.REACHED_END_OF_TOPIC: {
        const id = resourceIdOf(body);
        if (id !== undefined) this.#consumers.get(id)?.onEndOfTopic?.();
        return;
      }
      case CommandType.TOPIC_MIGRATED:
        // We cannot follow a migration to another cluster: drop the connection; users re-look-up.
        throw unavailable(`a topic served on ${this.url} migrated to another cluster`);
      case CommandType.ERROR: {
        const error = decodeError(body);
        const pending = this.#takePending(error.requestId);
        pending?.reject(brokerError(error.error, error.message, pending.what));
        return;
      }
      case CommandType.SUCCESS:
      case CommandType.PRODUCER_SUCCESS:
      case CommandType.LOOKUP_RESPONSE:
      case CommandType.GET_LAST_MESSAGE_ID_RESPONSE: {
        const requestId = requestIdOf(type, body);
        if (requestId !== undefined) this.#takePending(requestId)?.resolve(frame.command);
        return;
      }
      default:
        // ACTIVE_CONSUMER_CHANGE, ACK_RESPONSE, ... carry nothing this client acts on.
        return;
    }
  }

  #takePending(requestId: number): Pending | undefined {
    const pending = this.#pending.get(requestId);
    if (!pending) return undefined;
    this.#pending.delete(requestId);
    clearTimeout(pending.timer);
    return pending;
  }
}

/** A handler that throws must not take the connection's bookkeeping (or the process) down with it. */
function safely(run: () => void): void {
  try {
    run();
  } catch {
    // Handlers report through their own promises; nothing to do with a throw here.
  }
}
