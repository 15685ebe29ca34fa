import {
  type Delivery,
  type ImmutableMessage,
  MutableMessage,
  type ObservabilityOptions,
  pchannelOfVChannel,
  type ResourceKey,
  WalError,
} from '@walstream/core';
import { type BackoffOptions, booleanOption, checkKnownKeys, integerOption } from '@walstream/core/internal';
import { createObservability, toWalError } from '@walstream/core/spi';
import { createVChannel, dropVChannel } from '@walstream/interceptors';
import {
  BroadcastRequestSchema,
  connectRpc,
  create,
  fromWireAppendResult,
  type RpcChannel,
  type TlsClientOptions,
  toWireMessage,
  type WireAppendResult,
} from '@walstream/rpc';
import type { Observable } from 'rxjs';
import { type Assignment, AssignmentWatcher } from './assignment/watcher.js';
import { type ReadOptions, readVChannel } from './consumer/consumer.js';
import { type ReadDeliveriesOptions, readDeliveries } from './consumer/deliveries.js';
import { deadline } from './deadline.js';
import { type EmbeddedOptions, startEmbedded } from './embedded.js';
import { ResumableProducer } from './producer/producer.js';
import { beginTxn, type Txn, type TxnOptions } from './txn/txn.js';

const WHERE = 'createClient';
const KNOWN = [
  'coord',
  'tls',
  'token',
  'appendTimeoutMs',
  'backoff',
  'maxMessageBytes',
  'idempotent',
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
  /**
   * Every append carries a producer id and sequence, and its owner writes it once however often it is
   * retried, across moves too (see docs/client.md, "Idempotent appends"). Default false: at least once.
   */
  readonly idempotent?: boolean;
}

/** A client with its own service in this process (see {@link EmbeddedOptions}); no `coord`, `tls` or `token`. */
export interface EmbeddedClientOptions extends Omit<ClientOptions, 'coord' | 'tls' | 'token'> {
  readonly embedded: EmbeddedOptions;
}

export interface AppendOptions {
  readonly signal?: AbortSignal;
}

export interface BroadcastOptions {
  /**
   * The vchannels to append the message to (each on the owner of its pchannel). When absent, the message
   * must have been built with `.broadcast(vchannels, resourceKeys)`.
   */
  readonly vchannels?: readonly string[];
  /** Locks the coordinator holds while the broadcast runs: conflicting broadcasts go one after another. */
  readonly resourceKeys?: readonly ResourceKey[];
  /** Gives up waiting (the broadcast itself may go on: the coordinator finishes what it saved). */
  readonly signal?: AbortSignal;
}

/** A broadcast's id and each vchannel's copy. */
export interface BroadcastResult {
  readonly broadcastId: bigint;
  /** vchannel → where its copy landed. */
  readonly results: ReadonlyMap<string, WireAppendResult>;
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
  /**
   * The same reader as an Observable of deliveries to `ack()`: it stops pulling while `window` (default
   * 64) are unacknowledged. Each subscription reads on its own.
   */
  read$(vchannel: string, options?: ReadDeliveriesOptions): Observable<Delivery>;
  /**
   * Begins a transaction on `vchannel`: its messages become visible together at commit, or never. It
   * fails (TRANSACTION_EXPIRED) when its owner went away with one of its appends in flight.
   */
  txn(vchannel: string, options?: TxnOptions): Promise<Txn>;
  /**
   * Appends one message to many vchannels through the coordinator (its BroadcastService): each copy lands
   * on its vchannel's owner, under the resource keys' locks. Resolves once every copy landed.
   */
  broadcast(message: MutableMessage, options?: BroadcastOptions): Promise<BroadcastResult>;
  /** Creates `vchannel` (a CreateVChannel message appended to it). Creating one that exists changes nothing. */
  createVChannel(vchannel: string, options?: AppendOptions): Promise<WireAppendResult>;
  /** Drops `vchannel` for good (a DropVChannel message appended to it); later appends fail VCHANNEL_DROPPED. */
  dropVChannel(vchannel: string, options?: AppendOptions): Promise<WireAppendResult>;
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

/**
 * A client of a walstream service. With `coord`: connects through the coordinator (nothing is dialled
 * before the first use). With `embedded`: starts a coordinator and its node(s) in this process first
 * (hence a Promise), behind the same API; `close()` stops them.
 */
export function createClient(options: ClientOptions): Client;
export function createClient(options: EmbeddedClientOptions): Promise<Client>;
export function createClient(options: ClientOptions | EmbeddedClientOptions): Client | Promise<Client> {
  if (options !== null && typeof options === 'object' && 'embedded' in options)
    return embeddedClient(options);
  return remoteClient(options);
}

async function embeddedClient(options: EmbeddedClientOptions): Promise<Client> {
  const { embedded, ...rest } = options;
  checkKnownKeys(
    WHERE,
    rest,
    KNOWN.filter((key) => !['coord', 'tls', 'token'].includes(key)),
  );
  const service = await startEmbedded(embedded);
  let client: Client;
  try {
    client = remoteClient({ ...rest, coord: service.address }, () => service.close());
  } catch (error) {
    await service.close();
    throw error;
  }
  return client;
}

function remoteClient(options: ClientOptions, stopService?: () => Promise<void>): Client {
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
  const context = {
    watcher,
    connect,
    backoff,
    observability,
    stop: stop.signal,
    idempotent: booleanOption(WHERE, 'idempotent', options.idempotent, false),
  };
  const producers = new Map<string, ResumableProducer>();
  const inFlight = new Set<AbortController>();
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
    // One controller per append in a set the close aborts, rather than a listener per append on the
    // client's signal: hundreds of appends in flight would each hold one (and trip the listener warning).
    const closed = new AbortController();
    inFlight.add(closed);
    const signals = [timeout.signal, closed.signal, ...(appendOptions.signal ? [appendOptions.signal] : [])];
    try {
      return await producer.append(message, AbortSignal.any(signals));
    } finally {
      clearTimeout(timer);
      inFlight.delete(closed);
    }
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      stop.abort();
      for (const append of inFlight) append.abort(new WalError('CLOSED', 'the client is closed'));
      for (const producer of producers.values()) producer.close();
      await watcher.close();
      for (const channel of channels.values()) channel.close();
      await stopService?.();
    })();
    return closing;
  };

  const broadcast = async (
    message: MutableMessage,
    broadcastOptions: BroadcastOptions = {},
  ): Promise<BroadcastResult> => {
    if (stop.signal.aborted) throw new WalError('CLOSED', 'the client is closed');
    checkKnownKeys('broadcast', broadcastOptions, ['vchannels', 'resourceKeys', 'signal']);
    const request = create(BroadcastRequestSchema, {
      message: toWireMessage(broadcastMessage(message, broadcastOptions)),
    });
    const call = deadline('broadcast', appendTimeoutMs, stop.signal, broadcastOptions.signal);
    let last: WalError | undefined;
    try {
      // A coordinator that could not be reached took nothing; one that failed mid-call may have saved the
      // broadcast (it then finishes it), so only UNAVAILABLE moves on to the next address.
      for (const address of coordAddresses) {
        try {
          const response = await connect(address).broadcast.broadcast(request, { signal: call.signal });
          const results = new Map<string, WireAppendResult>();
          for (const [vchannel, result] of Object.entries(response.results)) {
            results.set(vchannel, fromWireAppendResult(result, `results.${vchannel}`));
          }
          return { broadcastId: response.broadcastId, results };
        } catch (raw) {
          last = toWalError(raw);
          if (call.signal.aborted || last.code !== 'UNAVAILABLE') throw last;
        }
      }
      throw last ?? new WalError('UNAVAILABLE', 'no coordinator to broadcast through');
    } finally {
      call.done();
    }
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
    read$: (vchannel, readOptions = {}) => {
      checkKnownKeys('read$', readOptions, ['deliverPolicy', 'filters', 'window']);
      pchannelOfVChannel(vchannel);
      const { window: given, ...rest } = readOptions;
      const window = integerOption('read$', 'window', given, 64);
      return readDeliveries(vchannel, window, rest, context);
    },
    txn: async (vchannel, txnOptions = {}) => {
      if (stop.signal.aborted) throw new WalError('CLOSED', 'the client is closed');
      checkKnownKeys('txn', txnOptions, ['keepaliveMs', 'signal']);
      integerOption('txn', 'keepaliveMs', txnOptions.keepaliveMs, 0, { min: 0 });
      pchannelOfVChannel(vchannel);
      return beginTxn(vchannel, txnOptions, { ...context, appendTimeoutMs });
    },
    broadcast,
    createVChannel: (vchannel, appendOptions) => append(createVChannel(vchannel), appendOptions),
    dropVChannel: (vchannel, appendOptions) => append(dropVChannel(vchannel), appendOptions),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The message with its broadcast target: as built, or the options' vchannels and keys in place of its own. */
function broadcastMessage(message: MutableMessage, options: BroadcastOptions): MutableMessage {
  const invalid = (text: string, option: string): WalError =>
    new WalError('INVALID_ARGUMENT', `broadcast: ${text}`, { retriable: false, details: { option } });
  if (options.vchannels === undefined) {
    if (options.resourceKeys !== undefined) throw invalid('resourceKeys need vchannels', 'resourceKeys');
    if (!message.broadcastHeader) {
      throw invalid('give vchannels, or build the message with .broadcast(vchannels, keys)', 'vchannels');
    }
    return message;
  }
  const vchannels = [...new Set(options.vchannels)];
  if (vchannels.length === 0 || !vchannels.every((v) => typeof v === 'string')) {
    throw invalid(
      `vchannels must be a non-empty list of names, got ${JSON.stringify(options.vchannels)}`,
      'vchannels',
    );
  }
  for (const vchannel of vchannels) pchannelOfVChannel(vchannel);
  // The copy loses its own target (one vchannel, or another broadcast's): the coordinator gives each its own.
  const { _vc: _target, _bh: _header, ...properties } = message.properties;
  return new MutableMessage(message.payload, properties).withBroadcastHeader({
    broadcastId: 0n,
    vchannels,
    resourceKeys: [...(options.resourceKeys ?? [])],
  });
}
