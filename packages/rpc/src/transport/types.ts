import type { ObservabilityOptions } from '@walstream/core';
import type { ServiceImplementations } from './services.js';

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** Aborted when the client cancels, its deadline passes, or its connection goes away. */
  readonly signal: AbortSignal;
  /** The request metadata (text values; `-bin` keys as Buffers), `authorization` removed. */
  readonly metadata: Readonly<Record<string, readonly (string | Buffer)[]>>;
  /** The client's address as the server sees it (`ipv4:127.0.0.1:53122`). */
  readonly peer: string;
  /** The full method path, `/walstream.v1.NodeHandlerService/Produce`. */
  readonly method: string;
}

/** The server's side of a server-streaming call. */
export interface ServerWriter<Res> {
  /**
   * Queues one response. Resolves at once while the call's send buffer is below its high-water mark and
   * waits for it to drain otherwise, so HTTP/2 flow control reaches the producer of the responses: a client
   * that stops reading stops the handler. Rejects (ABORTED) when the call is cancelled meanwhile.
   */
  send(response: Res): Promise<void>;
}

/** The server's side of a bidi call: the requests as an async iterable, plus {@link ServerWriter.send}. */
export interface ServerDuplex<Req, Res> extends ServerWriter<Res>, AsyncIterable<Req> {}

/** Per-call options of every client method. */
export interface ClientCallOptions {
  /** Cancels the call; it then fails with ABORTED. */
  readonly signal?: AbortSignal;
  /** Fails the call with TIMEOUT when it has not finished this many milliseconds from now. */
  readonly deadlineMs?: number;
}

/**
 * The responses of a server-streaming call. Iterating reads them one at a time (flow control); leaving
 * the loop before they ended cancels the call.
 */
export interface ServerStream<Res> extends AsyncIterable<Res> {
  /** Ends the call; a pending or later iteration fails with ABORTED. */
  cancel(): void;
}

/** The client's side of a bidi call. */
export interface ClientDuplex<Req, Res> extends ServerStream<Res> {
  /** Sends one request; waits for the send buffer to drain when it is full (flow control). */
  send(request: Req): Promise<void>;
  /** Half-closes: no more requests; responses keep coming until the server ends the call. */
  end(): void;
}

/** PEM material, inline or from files (one of each pair). */
export interface TlsMaterial {
  readonly cert?: string | Buffer;
  readonly certFile?: string;
  readonly key?: string | Buffer;
  readonly keyFile?: string;
  /** Server: the CA that client certificates must chain to. Client: the CA the server's certificate must chain to. */
  readonly ca?: string | Buffer;
  readonly caFile?: string;
}

export interface TlsServerOptions extends TlsMaterial {
  /** Mutual TLS: refuse clients without a certificate signed by `ca`. Default false. */
  readonly requireClientCert?: boolean;
}

/** Client TLS. Without `ca` the system's roots are trusted; `cert`/`key` present a client certificate. */
export interface TlsClientOptions extends TlsMaterial {
  /** The name the server's certificate must carry, when it differs from the address's host. */
  readonly serverName?: string;
}

export interface KeepaliveOptions {
  /** Ping the peer after this long without activity. Default 10 000 ms. */
  readonly timeMs?: number;
  /** Drop the connection when a ping is not answered within this long. Default 20 000 ms. */
  readonly timeoutMs?: number;
}

export interface RpcServerOptions {
  /** `host:port` to listen on; port 0 picks a free one (see {@link RpcServer.address}). */
  readonly listen: string;
  readonly services: ServiceImplementations;
  /** Serve TLS (or mutual TLS) instead of plaintext. */
  readonly tls?: TlsServerOptions;
  /** Require `authorization: Bearer <token>` on every call; others get UNAUTHENTICATED. */
  readonly token?: string;
  /** The largest message received or sent, in bytes. Default 256 MiB. */
  readonly maxMessageBytes?: number;
  readonly keepalive?: KeepaliveOptions;
  readonly observability?: ObservabilityOptions;
}

export interface RpcServer extends AsyncDisposable {
  /** `host:port` actually bound. */
  readonly address: string;
  /**
   * Stops accepting calls and waits up to `graceMs` (default 5 000) for the calls in progress to end,
   * then cancels the rest (their handlers' signals abort).
   */
  close(options?: { readonly graceMs?: number }): Promise<void>;
}

export interface RpcClientOptions {
  readonly tls?: TlsClientOptions;
  /** Sent as `authorization: Bearer <token>` on every call. */
  readonly token?: string;
  /** The largest message received or sent, in bytes. Default 256 MiB. */
  readonly maxMessageBytes?: number;
  readonly keepalive?: KeepaliveOptions;
}
