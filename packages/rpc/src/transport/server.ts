import { timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import {
  Server,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { WalError } from '@walstream/core';
import { checkKnownKeys, integerOption, stringOption } from '@walstream/core/internal';
import { createObservability, type Observability } from '@walstream/core/spi';
import { ServerMetrics } from './metrics.js';
import { channelOptions, serverCredentials, tokenOption } from './options.js';
import { MalformedRequest, type MethodWire, methodsOf, SERVICES, type ServiceKey } from './services.js';
import { statusOfError } from './status.js';
import { pull, push } from './streams.js';
import type { CallContext, RpcServer, RpcServerOptions } from './types.js';

const WHERE = 'startRpcServer';
const KNOWN = ['listen', 'services', 'tls', 'token', 'maxMessageBytes', 'keepalive', 'observability'];
const DEFAULT_GRACE_MS = 5_000;
/** How long connections may take to close after the remaining calls were ended with ON_SHUTDOWN. */
const FORCE_AFTER_MS = 1_000;

type AnyHandler = (...args: never[]) => Promise<unknown>;
type GrpcCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/** Splits `host:port` (IPv6 hosts in brackets) and checks the port. */
function parseListen(listen: string): { host: string; port: number } {
  const cut = listen.lastIndexOf(':');
  const port = Number(listen.slice(cut + 1));
  if (cut <= 0 || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${WHERE}: option listen must be host:port, got ${JSON.stringify(listen)}`,
      {
        retriable: false,
        details: { option: 'listen' },
      },
    );
  }
  return { host: listen.slice(0, cut), port };
}

class Authenticator {
  readonly #expected: Buffer | undefined;
  constructor(token: string | undefined) {
    this.#expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  }

  /** Undefined when the call may go on; the error to end it with otherwise. */
  check(call: GrpcCall): WalError | undefined {
    if (this.#expected === undefined) return undefined;
    const given = call.metadata.get('authorization');
    const value = given.length === 1 && typeof given[0] === 'string' ? Buffer.from(given[0]) : undefined;
    // timingSafeEqual needs equal lengths; comparing lengths first leaks only the length.
    if (value && value.length === this.#expected.length && timingSafeEqual(value, this.#expected))
      return undefined;
    return new WalError(
      'UNAUTHENTICATED',
      value
        ? 'the bearer token was not accepted'
        : 'this server requires an authorization: Bearer <token> header',
      { retriable: false },
    );
  }
}

function contextOf(call: GrpcCall, path: string, signal: AbortSignal): CallContext {
  const metadata: Record<string, (string | Buffer)[]> = {};
  for (const [key, values] of Object.entries(call.metadata.toJSON())) {
    if (key !== 'authorization') metadata[key] = values;
  }
  return { signal, metadata, peer: call.getPeer(), method: path };
}

/** An AbortController that aborts when the call is cancelled (by the client, its deadline or a lost connection). */
function cancellation(call: GrpcCall, path: string): AbortController {
  const controller = new AbortController();
  const abort = (): void =>
    controller.abort(
      new WalError(
        'ABORTED',
        `${path}: the call was cancelled (by the client, its deadline, a lost connection or the transport)`,
        { retriable: false },
      ),
    );
  if (call.cancelled) abort();
  else (call as EventEmitter).once('cancelled', abort);
  return controller;
}

function abortedError(signal: AbortSignal, path: string): () => Error {
  return () =>
    WalError.is(signal.reason)
      ? signal.reason
      : new WalError('ABORTED', `${path}: the call was cancelled`, { retriable: false });
}

class GrpcRpcServer implements RpcServer {
  readonly address: string;
  readonly #server: Server;
  readonly #active: ActiveCalls;
  #closing: Promise<void> | undefined;

  constructor(server: Server, address: string, active: ActiveCalls) {
    this.#server = server;
    this.address = address;
    this.#active = active;
  }

  async close(options: { readonly graceMs?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const graceMs = integerOption('RpcServer.close', 'graceMs', options.graceMs, DEFAULT_GRACE_MS, {
      min: 0,
    });
    this.#closing = new Promise<void>((resolve) => {
      let force: NodeJS.Timeout | undefined;
      const cut = setTimeout(() => {
        // Calls still running end with ON_SHUTDOWN (retriable: another server may serve them); if the
        // connections do not close once they have, they are torn down.
        this.#active.failAll(
          new WalError('ON_SHUTDOWN', `the server at ${this.address} is shutting down`, { retriable: true }),
        );
        force = setTimeout(() => this.#server.forceShutdown(), FORCE_AFTER_MS);
        force.unref();
      }, graceMs);
      cut.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(cut);
        clearTimeout(force);
        resolve();
      });
    });
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Starts a gRPC server with the given services. Every call is authenticated first (when `token` is set);
 * a handler's failure ends its call with a status whose `walstream-error-bin` trailer carries the error.
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  checkKnownKeys(WHERE, options, KNOWN);
  const listen = stringOption(WHERE, 'listen', options.listen, '', false);
  const { host, port } = parseListen(listen);
  checkKnownKeys(WHERE, options.services, Object.keys(SERVICES), 'services.');
  const token = tokenOption(WHERE, options.token);
  const grpcOptions = channelOptions(WHERE, options.maxMessageBytes, options.keepalive);
  const credentials = serverCredentials(WHERE, options.tls);
  const observability = createObservability(options.observability).child({ component: 'rpc-server' });
  const metrics = new ServerMetrics(observability.meter);

  const server = new Server(grpcOptions);
  const auth = new Authenticator(token);
  const active = new ActiveCalls();
  for (const key of Object.keys(SERVICES) as ServiceKey[]) {
    const impl = options.services?.[key];
    if (impl === undefined) continue;
    const definition: Record<string, unknown> = {};
    const implementation: UntypedServiceImplementation = {};
    for (const method of methodsOf(SERVICES[key])) {
      const handler = (impl as unknown as Record<string, AnyHandler | undefined>)[method.localName];
      if (typeof handler !== 'function') {
        throw new WalError(
          'INVALID_ARGUMENT',
          `${WHERE}: services.${key} has no handler ${method.localName}`,
          {
            retriable: false,
            details: { option: `services.${key}.${method.localName}` },
          },
        );
      }
      definition[method.localName] = {
        path: method.path,
        requestStream: method.kind === 'bidi_streaming' || method.kind === 'client_streaming',
        responseStream: method.kind === 'bidi_streaming' || method.kind === 'server_streaming',
        requestSerialize: method.serializeRequest,
        requestDeserialize: method.deserializeRequest,
        responseSerialize: method.serializeResponse,
        responseDeserialize: method.deserializeResponse,
        originalName: method.localName,
      };
      implementation[method.localName] = adapt(
        method,
        handler.bind(impl),
        auth,
        active,
        observability,
        metrics,
      );
    }
    // grpc-js types service definitions loosely; the definition above is the shape it reads.
    server.addService(definition as Parameters<Server['addService']>[0], implementation);
  }

  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (error, bound) => {
      if (error) {
        reject(
          new WalError('UNAVAILABLE', `${WHERE}: cannot listen on ${listen}: ${error.message}`, {
            cause: error,
            retriable: false,
            details: { listen },
          }),
        );
      } else resolve(bound);
    });
  });
  const address = `${host}:${boundPort}`;
  observability.logger.info(
    { address, tls: options.tls !== undefined, token: token !== undefined },
    'rpc server listening',
  );
  return new GrpcRpcServer(server, address, active);
}

/** The requests of a stream, failing the iteration (INVALID_ARGUMENT) at the first that did not decode. */
async function* wellFormed(requests: AsyncGenerator<unknown>): AsyncGenerator<unknown> {
  for await (const request of requests) {
    if (request instanceof MalformedRequest) throw request.error;
    yield request;
  }
}

function reportFailure(observability: Observability, path: string, error: unknown): void {
  if (WalError.is(error))
    observability.logger.debug({ method: path, code: error.code, err: error }, 'call failed');
  else
    observability.logger.warn(
      { method: path, err: error },
      'handler failed with a non-walstream error (sent as UNKNOWN)',
    );
}

/** One call in progress, as the server's close sees it. */
interface ActiveCall {
  /** Ends the call with `error` (once; later outcomes of the handler are dropped) and aborts its signal. */
  fail(error: WalError): void;
}

/** The calls in progress, so that close can end the ones that outlive the grace period with ON_SHUTDOWN. */
class ActiveCalls {
  readonly #calls = new Set<ActiveCall>();

  /**
   * Tracks a call from its start to its end. `respond(error, response)` ends the call (OK when `error` is
   * undefined); the returned `finish` does it once, whichever comes first: the handler's outcome or the
   * shutdown.
   */
  track(
    controller: AbortController,
    respond: (error: unknown, response?: unknown) => void,
  ): (error: unknown, response?: unknown) => void {
    let done = false;
    const finish = (error: unknown, response?: unknown): void => {
      if (done) return;
      done = true;
      this.#calls.delete(active);
      respond(error, response);
    };
    const active: ActiveCall = {
      fail: (error) => {
        controller.abort(error);
        finish(error);
      },
    };
    this.#calls.add(active);
    controller.signal.addEventListener('abort', () => this.#calls.delete(active), { once: true });
    return finish;
  }

  failAll(error: WalError): void {
    for (const call of [...this.#calls]) call.fail(error);
  }
}

function adapt(
  method: MethodWire,
  handler: AnyHandler,
  auth: Authenticator,
  active: ActiveCalls,
  observability: Observability,
  metrics: ServerMetrics,
): UntypedHandleCall {
  const path = method.path;
  const invoke = handler as (...args: unknown[]) => Promise<unknown>;
  /** Runs the handler of a call that passed authentication and decoding, and ends the call with its outcome. */
  const run = (
    call: GrpcCall,
    respond: (error: unknown, response?: unknown) => void,
    start: (signal: AbortSignal) => Promise<unknown>,
  ): void => {
    const controller = cancellation(call, path);
    const ended = metrics.started(path);
    const finish = active.track(controller, (error, response) => {
      ended(error);
      respond(error, response);
    });
    start(controller.signal).then(
      (response) => finish(undefined, response),
      (error: unknown) => {
        reportFailure(observability, path, error);
        finish(error);
      },
    );
  };
  /** The error to refuse a call with before its handler runs, if any. */
  const refusal = (call: GrpcCall, request?: unknown): WalError | undefined => {
    const refused = auth.check(call) ?? (request instanceof MalformedRequest ? request.error : undefined);
    if (refused) metrics.refused(path, refused);
    return refused;
  };

  switch (method.kind) {
    case 'unary':
      return ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const refused = refusal(call, call.request);
        if (refused) return callback(statusOfError(refused));
        run(
          call,
          (error, response) =>
            error === undefined ? callback(null, response) : callback(statusOfError(error)),
          (signal) => invoke(call.request, contextOf(call, path, signal)),
        );
      }) as UntypedHandleCall;
    case 'server_streaming':
      return ((call: ServerWritableStream<unknown, unknown>) => {
        const refused = refusal(call, call.request);
        if (refused) return void call.emit('error', statusOfError(refused));
        run(
          call,
          (error) => (error === undefined ? call.end() : call.emit('error', statusOfError(error))),
          (signal) => {
            const writer = {
              send: (response: unknown) => push(call, response, signal, abortedError(signal, path)),
            };
            return invoke(call.request, writer, contextOf(call, path, signal));
          },
        );
      }) as UntypedHandleCall;
    case 'bidi_streaming':
      return ((call: ServerDuplexStream<unknown, unknown>) => {
        const refused = refusal(call);
        if (refused) return void call.emit('error', statusOfError(refused));
        run(
          call,
          (error) => (error === undefined ? call.end() : call.emit('error', statusOfError(error))),
          (signal) => {
            const failure = abortedError(signal, path);
            const duplex = {
              send: (response: unknown) => push(call, response, signal, failure),
              [Symbol.asyncIterator]: () =>
                wellFormed(pull(call, () => (signal.aborted ? failure() : undefined), signal)),
            };
            return invoke(duplex, contextOf(call, path, signal));
          },
        );
      }) as UntypedHandleCall;
    default:
      throw new WalError(
        'INVALID_ARGUMENT',
        `${WHERE}: ${path} is client-streaming, which walstream does not use`,
        {
          retriable: false,
        },
      );
  }
}
