import {
  type ImmutableMessage,
  type MutableMessage,
  type ObservabilityOptions,
  pchannelOfVChannel,
  WalError,
} from '@walstream/core';
import { type BackoffOptions, checkKnownKeys, integerOption } from '@walstream/core/internal';
import { createObservability } from '@walstream/core/spi';
import { connectRpc, type RpcChannel, type TlsClientOptions, type WireAppendResult } from '@walstream/rpc';
import type { Observable } from 'rxjs';
import { type Assignment, AssignmentWatcher } from './assignment/watcher.js';
import { type ReadOptions, readVChannel } from './consumer/consumer.js';
import { ResumableProducer } from './producer/producer.js';

const WHERE = 'createClient';
const KNOWN = [
  'coord',
  'tls',
  'token',
  'appendTimeoutMs',
  'backoff',
  'maxMessageBytes',
  'logger',
  'meterProvider',
  'onError',
];

export interface ClientOptions extends ObservabilityOptions {
  /** The coordinator's `host:port`, or several: the assignment stream moves to the next one when one fails. */
  readonly coord: string | readonly string[];
  /** TLS for every connection (coordinator and nodes). */
  readonly tls?: TlsClientOptions;
  /** Bearer token sent on every call. */
  readonly token?: string;
  /** How long an append may take, retries included, before it fails TIMEOUT. Default 30 000 ms. */
  readonly appendTimeoutMs?: number;
  /** Backoff between retries and reconnects. Default 50 ms doubling to 2 000 ms. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Largest gRPC message in or out. Default 256 MiB. */
  readonly maxMessageBytes?: number;
}

export interface AppendOptions {
  readonly signal?: AbortSignal;
}

/** What an application holds: appends and reads by vchannel, wherever its pchannel lives now. */
export interface Client extends AsyncDisposable {
  /** The coordinator's assignment snapshots, newest only; `undefined` until the first one arrived. */
  readonly assignments$: Observable<Assignment | undefined>;
  /** The snapshot held now. */
  readonly assignment: Assignment | undefined;
  /**
   * Appends to the message's vchannel through the owner of its pchannel, retrying on the next owner when
   * the current one moves or fails (at least once). A failure after a try that may have landed carries
   * `details.written: 'unknown'`; `false` when no try can have landed.
   */
  append(message: MutableMessage, options?: AppendOptions): Promise<WireAppendResult>;
  /** Reads one vchannel, resuming after moves and reconnects without a gap or a duplicate. */
  read(vchannel: string, options?: ReadOptions): AsyncIterable<ImmutableMessage>;
  /** Ends every stream and connection; appends and reads in progress fail CLOSED. */
  close(): Promise<void>;
}

function addresses(coord: unknown): string[] {
  const list = typeof coord === 'string' ? [coord] : Array.isArray(coord) ? coord : undefined;
  if (!list || list.length === 0 || !list.every((a) => typeof a === 'string' && /^.+:\d+$/.test(a))) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${WHERE}: coord must be host:port or a non-empty list of them, got ${JSON.stringify(coord)}`,
      {
        retriable: false,
        details: { option: 'coord' },
      },
    );
  }
  return list as string[];
}

/** Connects to a walstream service through its coordinator. Nothing is dialled before the first use. */
export function createClient(options: ClientOptions): Client {
  checkKnownKeys(WHERE, options, KNOWN);
  checkKnownKeys(WHERE, options.backoff, ['initialMs', 'maxMs'], 'backoff.');
  const coordAddresses = addresses(options.coord);
  const appendTimeoutMs = integerOption(WHERE, 'appendTimeoutMs', options.appendTimeoutMs, 30_000);
  const initialMs = integerOption(WHERE, 'backoff.initialMs', options.backoff?.initialMs, 50);
  const backoff: BackoffOptions = {
    initialMs,
    maxMs: integerOption(WHERE, 'backoff.maxMs', options.backoff?.maxMs, Math.max(2_000, initialMs), {
      min: initialMs,
    }),
  };
  const rpcOptions = {
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
  };
  const observability = createObservability(options).child({ component: 'client' });
  const stop = new AbortController();
  const channels = new Map<string, RpcChannel>();
  const connect = (address: string): RpcChannel => {
    if (stop.signal.aborted) throw new WalError('CLOSED', 'the client is closed');
    let channel = channels.get(address);
    if (!channel) {
      channel = connectRpc(address, rpcOptions);
      channels.set(address, channel);
    }
    return channel;
  };
  const watcher = new AssignmentWatcher({ coords: coordAddresses.map(connect), backoff, observability });
  const context = { watcher, connect, backoff, observability, stop: stop.signal };
  const producers = new Map<string, ResumableProducer>();
  let closing: Promise<void> | undefined;

  const append = async (
    message: MutableMessage,
    appendOptions: AppendOptions = {},
  ): Promise<WireAppendResult> => {
    if (stop.signal.aborted) throw new WalError('CLOSED', 'the client is closed');
    const vchannel = message.vchannel;
    if (vchannel === undefined) {
      throw new WalError('INVALID_ARGUMENT', 'append: the message names no vchannel', {
        retriable: false,
        details: { written: false },
      });
    }
    const pchannel = pchannelOfVChannel(vchannel);
    let producer = producers.get(pchannel);
    if (!producer) {
      producer = new ResumableProducer(pchannel, context);
      producers.set(pchannel, producer);
    }
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new WalError('TIMEOUT', `append to ${vchannel} took over ${appendTimeoutMs} ms`)),
      appendTimeoutMs,
    );
    const closed = new AbortController();
    const onStop = (): void => closed.abort(new WalError('CLOSED', 'the client is closed'));
    stop.signal.addEventListener('abort', onStop, { once: true });
    const signals = [timeout.signal, closed.signal, ...(appendOptions.signal ? [appendOptions.signal] : [])];
    try {
      return await producer.append(message, AbortSignal.any(signals));
    } finally {
      clearTimeout(timer);
      stop.signal.removeEventListener('abort', onStop);
    }
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      stop.abort();
      for (const producer of producers.values()) producer.close();
      await watcher.close();
      for (const channel of channels.values()) channel.close();
    })();
    return closing;
  };

  return {
    get assignments$() {
      return watcher.assignments$;
    },
    get assignment() {
      return watcher.current;
    },
    append,
    read: (vchannel, readOptions = {}) => {
      checkKnownKeys('read', readOptions, ['deliverPolicy', 'filters', 'signal']);
      pchannelOfVChannel(vchannel);
      return readVChannel(vchannel, readOptions, context);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
