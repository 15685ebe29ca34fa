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
import { checkKnownKeys, stringOption } from '@walstream/core/internal';
import { createObservability, type Observability } from '@walstream/core/spi';
import { channelOptions, serverCredentials, tokenOption } from './options.js';
import { type MethodWire, methodsOf, SERVICES, type ServiceKey } from './services.js';
import { statusOfError } from './status.js';
import { pull, push } from './streams.js';
import type { CallContext, RpcServer, RpcServerOptions } from './types.js';

const WHERE = 'startRpcServer';
const KNOWN = ['listen', 'services', 'tls', 'token', 'maxMessageBytes', 'keepalive', 'observability'];
const DEFAULT_GRACE_MS = 5_000;

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
      new WalError('ABORTED', `${path}: the client cancelled the call or went away`, { retriable: false }),
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
  #closing: Promise<void> | undefined;

  constructor(server: Server, address: string) {
    this.#server = server;
    this.address = address;
  }

  close(options: { readonly graceMs?: number } = {}): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
      const force = setTimeout(() => this.#server.forceShutdown(), graceMs);
      force.unref();
      this.#server.tryShutdown(() => {
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

  const server = new Server(grpcOptions);
  const auth = new Authenticator(token);
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
      implementation[method.localName] = adapt(method, handler.bind(impl), auth, observability);
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
  return new GrpcRpcServer(server, address);
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

function adapt(
  method: MethodWire,
  handler: AnyHandler,
  auth: Authenticator,
  observability: Observability,
): UntypedHandleCall {
  const path = method.path;
  const invoke = handler as (...args: unknown[]) => Promise<unknown>;
  switch (method.kind) {
    case 'unary':
      return ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const denied = auth.check(call);
        if (denied) {
          callback(statusOfError(denied));
          return;
        }
        const controller = cancellation(call, path);
        invoke(call.request, contextOf(call, path, controller.signal)).then(
          (response) => callback(null, response),
          (error: unknown) => {
            reportFailure(observability, path, error);
            callback(statusOfError(error));
          },
        );
      }) as UntypedHandleCall;
    case 'server_streaming':
      return ((call: ServerWritableStream<unknown, unknown>) => {
        const denied = auth.check(call);
        if (denied) {
          call.emit('error', statusOfError(denied));
          return;
        }
        const controller = cancellation(call, path);
        const signal = controller.signal;
        const writer = {
          send: (response: unknown) => push(call, response, signal, abortedError(signal, path)),
        };
        invoke(call.request, writer, contextOf(call, path, signal)).then(
          () => call.end(),
          (error: unknown) => {
            reportFailure(observability, path, error);
            call.emit('error', statusOfError(error));
          },
        );
      }) as UntypedHandleCall;
    case 'bidi_streaming':
      return ((call: ServerDuplexStream<unknown, unknown>) => {
        const denied = auth.check(call);
        if (denied) {
          call.emit('error', statusOfError(denied));
          return;
        }
        const controller = cancellation(call, path);
        const signal = controller.signal;
        const failure = abortedError(signal, path);
        const duplex = {
          send: (response: unknown) => push(call, response, signal, failure),
          [Symbol.asyncIterator]: () => pull(call, () => (signal.aborted ? failure() : undefined), signal),
        };
        invoke(duplex, contextOf(call, path, signal)).then(
          () => call.end(),
          (error: unknown) => {
            reportFailure(observability, path, error);
            call.emit('error', statusOfError(error));
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
