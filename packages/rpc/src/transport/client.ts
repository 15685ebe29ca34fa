import {
  Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { WalError } from '@walstream/core';
import { checkKnownKeys, integerOption } from '@walstream/core/internal';
import { channelOptions, clientCredentials, tokenOption } from './options.js';
import {
  type AdminClient,
  type AssignmentClient,
  type BroadcastClient,
  type MethodWire,
  methodsOf,
  type NodeHandlerClient,
  type NodeManagerClient,
  SERVICES,
  type ServiceKey,
  type TsoClient,
} from './services.js';
import { errorOfStatus } from './status.js';
import { pull, push } from './streams.js';
import type { ClientCallOptions, RpcClientOptions } from './types.js';

const WHERE = 'connectRpc';
const KNOWN = ['tls', 'token', 'maxMessageBytes', 'keepalive'];

/** A connection to one walstream server, with a typed client per service. */
export interface RpcChannel extends AsyncDisposable {
  readonly address: string;
  readonly nodeHandler: NodeHandlerClient;
  readonly nodeManager: NodeManagerClient;
  readonly assignment: AssignmentClient;
  readonly broadcast: BroadcastClient;
  readonly tso: TsoClient;
  readonly admin: AdminClient;
  /** Closes the connection. Calls in progress go on until they end; new calls fail with CLOSED. */
  close(): void;
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'number';
}

/**
 * Connects lazily: nothing is dialled until the first call, and a server that is down makes that call
 * fail with UNAVAILABLE (retriable). Every failure is a WalError.
 */
export function connectRpc(address: string, options: RpcClientOptions = {}): RpcChannel {
  checkKnownKeys(WHERE, options, KNOWN);
  if (typeof address !== 'string' || !/^.+:\d+$/.test(address)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${WHERE}: address must be host:port, got ${JSON.stringify(address)}`,
      {
        retriable: false,
        details: { option: 'address' },
      },
    );
  }
  const token = tokenOption(WHERE, options.token);
  const grpcOptions = channelOptions(WHERE, options.maxMessageBytes, options.keepalive);
  const tls = clientCredentials(WHERE, options.tls);
  const client = new Client(address, tls.credentials, { ...grpcOptions, ...tls.options });
  return new GrpcRpcChannel(address, client, token);
}

/**
 * The responses, cancelling the call when the caller leaves the loop before they ended: otherwise the
 * server would go on sending into a stream nobody reads, its handler held by flow control for good.
 */
async function* cancelOnExit<T>(responses: AsyncGenerator<T>, cancel: () => void): AsyncGenerator<T> {
  let ended = false;
  try {
    for await (const response of responses) yield response;
    ended = true;
  } finally {
    if (!ended) cancel();
  }
}

class GrpcRpcChannel implements RpcChannel {
  readonly address: string;
  readonly nodeHandler: NodeHandlerClient;
  readonly nodeManager: NodeManagerClient;
  readonly assignment: AssignmentClient;
  readonly broadcast: BroadcastClient;
  readonly tso: TsoClient;
  readonly admin: AdminClient;
  readonly #client: Client;
  readonly #token: string | undefined;
  #closed = false;

  constructor(address: string, client: Client, token: string | undefined) {
    this.address = address;
    this.#client = client;
    this.#token = token;
    this.nodeHandler = this.#stubs('nodeHandler') as NodeHandlerClient;
    this.nodeManager = this.#stubs('nodeManager') as NodeManagerClient;
    this.assignment = this.#stubs('assignment') as AssignmentClient;
    this.broadcast = this.#stubs('broadcast') as BroadcastClient;
    this.tso = this.#stubs('tso') as TsoClient;
    this.admin = this.#stubs('admin') as AdminClient;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // The stubs are built from the descriptors; the service's client type is what they implement.
  #stubs(key: ServiceKey): Record<string, unknown> {
    const stubs: Record<string, unknown> = {};
    for (const method of methodsOf(SERVICES[key])) {
      switch (method.kind) {
        case 'unary':
          stubs[method.localName] = (request: unknown, options?: ClientCallOptions) =>
            this.#unary(method, request, options);
          break;
        case 'server_streaming':
          stubs[method.localName] = (request: unknown, options?: ClientCallOptions) =>
            this.#serverStream(method, request, options);
          break;
        case 'bidi_streaming':
          stubs[method.localName] = (options?: ClientCallOptions) => this.#bidi(method, options);
          break;
        default:
          break;
      }
    }
    return stubs;
  }

  #metadata(): Metadata {
    const metadata = new Metadata();
    if (this.#token !== undefined) metadata.set('authorization', `Bearer ${this.#token}`);
    return metadata;
  }

  #callOptions(method: MethodWire, options: ClientCallOptions | undefined): { deadline?: Date } {
    const where = `${method.localName} (${method.path})`;
    checkKnownKeys(where, options, ['signal', 'deadlineMs']);
    if (options?.deadlineMs === undefined) return {};
    const deadlineMs = integerOption(where, 'deadlineMs', options.deadlineMs, 0, { min: 1 });
    return { deadline: new Date(Date.now() + deadlineMs) };
  }

  #checkOpen(method: MethodWire, signal: AbortSignal | undefined): void {
    if (this.#closed) {
      throw new WalError('CLOSED', `${method.path}: the channel to ${this.address} is closed`, {
        retriable: false,
      });
    }
    if (signal?.aborted) {
      throw new WalError('ABORTED', `${method.path}: the call was aborted before it started`, {
        cause: signal.reason,
        retriable: false,
      });
    }
  }

  #unary(method: MethodWire, request: unknown, options: ClientCallOptions | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const signal = options?.signal;
      const callOptions = this.#callOptions(method, options);
      this.#checkOpen(method, signal);
      const onAbort = (): void => call.cancel();
      const call = this.#client.makeUnaryRequest(
        method.path,
        method.serializeRequest,
        method.deserializeResponse,
        request,
        this.#metadata(),
        callOptions,
        (error, response) => {
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(errorOfStatus(error, method.path, signal?.aborted ? signal : undefined));
          else resolve(response);
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The parts a server stream and a bidi call share: failure tracking, cancellation and reading. */
  #track(
    method: MethodWire,
    call: ClientReadableStream<unknown> | ClientDuplexStream<unknown, unknown>,
    signal?: AbortSignal,
  ) {
    const finished = new AbortController();
    const cancelled = new AbortController();
    let failure: WalError | undefined;
    call.on('error', (error: unknown) => {
      failure = isServiceError(error)
        ? errorOfStatus(
            error,
            method.path,
            cancelled.signal.aborted ? cancelled.signal : signal?.aborted ? signal : undefined,
          )
        : new WalError(
            'UNKNOWN',
            `${method.path}: ${error instanceof Error ? error.message : String(error)}`,
            {
              cause: error,
              retriable: false,
            },
          );
      finished.abort();
    });
    call.on('status', () => finished.abort());
    const cancel = (reason?: unknown): void => {
      if (cancelled.signal.aborted || finished.signal.aborted) return;
      cancelled.abort(reason);
      call.cancel();
    };
    const onAbort = (): void => cancel(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    finished.signal.addEventListener('abort', () => signal?.removeEventListener('abort', onAbort), {
      once: true,
    });
    const cancelledError = (): WalError =>
      new WalError('ABORTED', `${method.path}: the call was cancelled`, {
        cause: cancelled.signal.reason,
        retriable: false,
      });
    return {
      finished: finished.signal,
      cancel,
      failure: (): WalError | undefined => (cancelled.signal.aborted ? cancelledError() : failure),
      iterate: () =>
        cancelOnExit(
          pull<never>(call, () => (cancelled.signal.aborted ? cancelledError() : failure), cancelled.signal),
          () =>
            cancel(new WalError('ABORTED', 'the caller stopped reading the responses', { retriable: false })),
        ),
    };
  }

  #serverStream(method: MethodWire, request: unknown, options: ClientCallOptions | undefined): unknown {
    const signal = options?.signal;
    const callOptions = this.#callOptions(method, options);
    this.#checkOpen(method, signal);
    const call = this.#client.makeServerStreamRequest(
      method.path,
      method.serializeRequest,
      method.deserializeResponse,
      request,
      this.#metadata(),
      callOptions,
    );
    const tracked = this.#track(method, call, signal);
    return {
      cancel: () => tracked.cancel(),
      [Symbol.asyncIterator]: tracked.iterate,
    };
  }

  #bidi(method: MethodWire, options: ClientCallOptions | undefined): unknown {
    const signal = options?.signal;
    const callOptions = this.#callOptions(method, options);
    this.#checkOpen(method, signal);
    const call = this.#client.makeBidiStreamRequest(
      method.path,
      method.serializeRequest,
      method.deserializeResponse,
      this.#metadata(),
      callOptions,
    );
    const tracked = this.#track(method, call, signal);
    let halfClosed = false;
    const ended = (): WalError =>
      tracked.failure() ??
      new WalError('CLOSED', `${method.path}: the call has ${halfClosed ? 'been half-closed' : 'ended'}`, {
        retriable: false,
      });
    return {
      send: (request: unknown) => {
        if (halfClosed || tracked.finished.aborted) return Promise.reject(ended());
        return push(call, request, tracked.finished, ended);
      },
      end: () => {
        if (halfClosed) return;
        halfClosed = true;
        call.end();
      },
      cancel: () => tracked.cancel(),
      [Symbol.asyncIterator]: tracked.iterate,
    };
  }
}
