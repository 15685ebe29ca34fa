import { randomInt } from 'node:crypto';
import {
  type Catalog,
  createWal,
  LocalTimestampAllocator,
  type ObservabilityOptions,
  type TimestampAllocator,
  WalError,
  type WalOpener,
} from '@walstream/core';
import { checkKnownKeys, integerOption, stringOption } from '@walstream/core/internal';
import { createObservability, type WalImplsBuilder } from '@walstream/core/spi';
import { type SemanticsOptions, walSemantics } from '@walstream/interceptors';
import { type RpcServer, startRpcServer, type TlsServerOptions } from '@walstream/rpc';
import {
  type IdempotenceOptions,
  type IdempotenceStats,
  IdempotentAppends,
  observeIdempotence,
  resolveIdempotence,
} from './dedup/index.js';
import type { FlusherOptions } from './flusher/index.js';
import {
  type FlowControlOptions,
  type FlowControlStats,
  NodeFlowControl,
  resolveFlowControl,
} from './services/flow-control.js';
import { consumeService, produceService } from './services/handler.js';
import { managerService } from './services/manager.js';
import { observeFlowControl } from './services/metrics.js';
import type { ServiceContext } from './services/stream.js';
import { createWalManager, type WalManager } from './wal-manager/wal-manager.js';

export interface StartNodeOptions extends ObservabilityOptions {
  /**
   * The log store. The node composes the full semantics stack on it:
   * `createWal({ catalog, allocator }).adapter(adapter).use(...walSemantics())`. Give this or `opener`.
   */
  readonly adapter?: WalImplsBuilder;
  /** A stack composed by the caller, who keeps owning it: the node does not close it. */
  readonly opener?: WalOpener;
  /** Checkpoints and recovery state of the node's WALs. */
  readonly catalog: Catalog;
  /** host:port to listen on; port 0 picks a free one (see `address`). */
  readonly listen: string;
  /** TLS (and mutual TLS) from PEM files or strings. Plaintext when absent. */
  readonly tls?: TlsServerOptions;
  /** A shared bearer token every call must carry; calls without it get UNAUTHENTICATED. */
  readonly token?: string;
  /** The node's id, never reused in a deployment. Default: a random one. */
  readonly nodeId?: bigint;
  /** Timetick source of the composed stack (with `adapter`). Default: a process-local hybrid clock. */
  readonly allocator?: TimestampAllocator;
  /** Options of the composed `walSemantics()` chain (with `adapter`): timetick, txn, write-ahead buffer, ... */
  readonly semantics?: SemanticsOptions;
  readonly flowControl?: FlowControlOptions;
  /** Bounds of the deduplication window of idempotent appends (see docs/node.md, "Idempotent appends"). */
  readonly idempotence?: IdempotenceOptions;
  /** Read-ahead of each consumer stream's scanner, in messages. Default 128. */
  readonly consumerReadAhead?: number;
  /** Largest gRPC message the node takes or sends. Default 256 MiB. */
  readonly maxMessageBytes?: number;
  /** The flusher the WAL manager runs for each WAL. */
  readonly flusher?: FlusherOptions;
  /** How long `close()` lets open streams finish before it cancels them. Default 5000 ms. */
  readonly closeGraceMs?: number;
}

/** A running StreamingNode. */
export interface StreamingNode extends AsyncDisposable {
  /** host:port the node listens on. */
  readonly address: string;
  readonly nodeId: bigint;
  readonly walManager: WalManager;
  /** What producers hold in flight on this node now, and the most they held. */
  flowControl(): FlowControlStats;
  /** Repeats of idempotent appends answered from the window, and windows read from the log. */
  idempotence(): IdempotenceStats;
  /**
   * Graceful: new streams are refused, producers stop taking appends, the appends in flight complete and
   * are answered, every WAL closes (so a successor replays no more than the last checkpoint), then the
   * server stops. Idempotent.
   */
  close(): Promise<void>;
}

const WHERE = 'startNode';
const OPTION_KEYS = [
  'adapter',
  'opener',
  'catalog',
  'listen',
  'tls',
  'token',
  'nodeId',
  'allocator',
  'semantics',
  'flowControl',
  'idempotence',
  'consumerReadAhead',
  'maxMessageBytes',
  'flusher',
  'closeGraceMs',
  'logger',
  'meterProvider',
  'onError',
];

/**
 * Starts a StreamingNode: a WAL manager over the given store and catalog, served over gRPC (the node
 * handler and node manager services) until `close()`.
 *
 * ```ts
 * const node = await startNode({ adapter: memoryAdapter(), catalog: new MemoryCatalog(), listen: '127.0.0.1:0' });
 * ```
 */
export async function startNode(options: StartNodeOptions): Promise<StreamingNode> {
  checkKnownKeys(WHERE, options, OPTION_KEYS);
  if (options.opener !== undefined && options.semantics !== undefined) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${WHERE}: option semantics applies to a stack the node composes (adapter), not to an opener`,
      {
        retriable: false,
        details: { option: 'semantics' },
      },
    );
  }
  if ((options.adapter === undefined) === (options.opener === undefined)) {
    throw new WalError('INVALID_ARGUMENT', `${WHERE}: give exactly one of adapter and opener`, {
      retriable: false,
      details: { option: 'adapter' },
    });
  }
  if (options.catalog === undefined || options.catalog === null) {
    throw new WalError('INVALID_ARGUMENT', `${WHERE}: option catalog is required`, {
      retriable: false,
      details: { option: 'catalog' },
    });
  }
  const listen = stringOption(WHERE, 'listen', options.listen, '', false);
  if (options.nodeId !== undefined && (typeof options.nodeId !== 'bigint' || options.nodeId < 0n)) {
    throw new WalError('INVALID_ARGUMENT', `${WHERE}: option nodeId must be a bigint ≥ 0`, {
      retriable: false,
      details: { option: 'nodeId' },
    });
  }
  const flowOptions = resolveFlowControl(WHERE, options.flowControl);
  const idempotenceOptions = resolveIdempotence(WHERE, options.idempotence);
  const consumerReadAhead = integerOption(WHERE, 'consumerReadAhead', options.consumerReadAhead, 128, {
    max: 1 << 20,
  });
  const closeGraceMs = integerOption(WHERE, 'closeGraceMs', options.closeGraceMs, 5000, { min: 0 });
  const nodeId = options.nodeId ?? BigInt(randomInt(1, 2 ** 47));
  const observabilityOptions: ObservabilityOptions = {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.meterProvider ? { meterProvider: options.meterProvider } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  };
  const observability = createObservability(observabilityOptions).child({ nodeId: nodeId.toString() });

  const ownsOpener = options.opener === undefined;
  const opener =
    options.opener ??
    (await createWal({
      catalog: options.catalog,
      allocator: options.allocator ?? new LocalTimestampAllocator(),
      ...observabilityOptions,
    })
      .adapter(options.adapter!)
      .use(...walSemantics(options.semantics))
      .build());

  const walManager = createWalManager({
    opener,
    catalog: options.catalog,
    ...(options.flusher ? { flusher: options.flusher } : {}),
    ...observabilityOptions,
  });
  const shutdown = new AbortController();
  const flow = new NodeFlowControl(flowOptions);
  const idempotence = new IdempotentAppends(idempotenceOptions, observability);
  const unobserveFlow = observeFlowControl(observability.meter, flow);
  const unobserveIdempotence = observeIdempotence(observability.meter, idempotence);
  const unobserve = (): void => {
    unobserveFlow();
    unobserveIdempotence();
  };
  const context: ServiceContext = {
    nodeId,
    wals: walManager,
    flow,
    idempotence,
    observability,
    shutdown: shutdown.signal,
    consumerReadAhead,
  };
  let server: RpcServer | undefined;
  try {
    server = await startRpcServer({
      listen,
      services: {
        nodeHandler: { produce: produceService(context), consume: consumeService(context) },
        nodeManager: managerService(walManager, { nodeId, address: () => server?.address ?? listen }),
      },
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.maxMessageBytes !== undefined ? { maxMessageBytes: options.maxMessageBytes } : {}),
      observability: observabilityOptions,
    });
  } catch (error) {
    unobserve();
    await walManager.close();
    if (ownsOpener) await opener.close();
    throw error;
  }
  const rpc = server;
  observability.logger.info?.({ address: rpc.address }, 'node serving');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shutdown.abort();
      try {
        // Producers saw the abort and drain; closing the WALs lets their last appends finish first.
        await walManager.close();
      } finally {
        try {
          await rpc.close({ graceMs: closeGraceMs });
        } finally {
          if (ownsOpener) await opener.close();
          unobserve();
          observability.logger.info?.({ address: rpc.address }, 'node closed');
        }
      }
    })();
    return closing;
  };
  return {
    address: rpc.address,
    nodeId,
    walManager,
    flowControl: () => flow.stats(),
    idempotence: () => idempotence.stats(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
