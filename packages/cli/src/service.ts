import { join } from 'node:path';
import { type LocalChannelStats, localAdapter } from '@walstream/adapter-local';
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  type Coordinator,
  type InProcessSessionHandle,
  InProcessSessions,
  RpcNodeManagerClient,
  serveCoordinator,
  startCoordinator,
} from '@walstream/coord';
import {
  type Catalog,
  createWal,
  MemoryCatalog,
  type TimestampAllocator,
  type Wal,
  WalError,
  type WalOpener,
} from '@walstream/core';
import { walSemantics } from '@walstream/interceptors';
import { type StreamingNode, startNode } from '@walstream/node';
import { connectRpc, type RpcChannel, type RpcServer } from '@walstream/rpc';
import { FileCatalog } from './file-catalog.js';

export interface ServiceOptions {
  /** Pchannels the coordinator assigns, named `<prefix>-0`, `<prefix>-1`, ... */
  readonly pchannels: number;
  readonly namePrefix?: string;
  /** StreamingNodes in this process, each on its own loopback port. */
  readonly nodes: number;
  /** The coordinator's host:port; port 0 picks a free one. */
  readonly listen: string;
  /**
   * The local durable store and the catalog (`catalog.json`) in this directory: a restart continues the
   * same log. Without it, the memory store and an in-process catalog.
   */
  readonly dataDir?: string;
  /** A bearer token every call to the coordinator and the nodes must carry. */
  readonly token?: string;
  /** How long the service may take to assign every pchannel. Default 20 000 ms. */
  readonly readyTimeoutMs?: number;
}

/** The networked service of `walstream up`: a coordinator and its nodes in one process, on one store. */
export interface Service {
  /** The coordinator's address, which clients are given. */
  readonly address: string;
  readonly coordinator: Coordinator<InProcessSessions>;
  readonly nodes: readonly StreamingNode[];
  readonly pchannels: readonly string[];
  /** From the start of `startService` until the coordinator served and every pchannel had an owner. */
  readonly readyMs: number;
  /** On the local store: what opening a pchannel found on disk (records, segments, a torn tail cut). */
  readonly stats: (pchannel: string) => Promise<LocalChannelStats | undefined>;
  /** The WAL of `pchannel` as its owner holds it now, in this process (the demo drives it directly). */
  wal(pchannel: string): Promise<Wal>;
  /**
   * Stops serving, then closes every node gracefully (the appends in flight are answered, each WAL closes),
   * then the store. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts a coordinator on the catalog, `nodes` StreamingNodes on one composed stack (the local store
 * with `walSemantics()`, timeticks from the coordinator's TSO) joined to it over loopback gRPC, and
 * serves the coordinator at `listen`. Resolves once every pchannel has an owner.
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const started = performance.now();
  const prefix = options.namePrefix ?? 'walstream';
  const pchannels = Array.from({ length: options.pchannels }, (_, i) => `${prefix}-${i}`);
  const catalog: Catalog =
    options.dataDir === undefined
      ? new MemoryCatalog()
      : await FileCatalog.open(join(options.dataDir, 'catalog.json'));
  // The opener first: on the local store it takes the data directory's lock, so a second process on the
  // same directory fails here, before the coordinator has written anything. Its timeticks come from the
  // coordinator's TSO, which starts next.
  let tso: TimestampAllocator | undefined;
  const allocator: TimestampAllocator = {
    allocate: () => tso!.allocate(),
    allocateNow: () => tso!.allocateNow?.(),
    sync: () => tso!.sync(),
    barrierUntil: (barrier) => tso!.barrierUntil(barrier),
  };
  const local = options.dataDir === undefined ? undefined : localAdapter({ directory: options.dataDir });
  const opener: WalOpener = await createWal({ catalog, allocator })
    .adapter(local ?? memoryAdapter())
    .use(...walSemantics())
    .build();
  const firstId = await nextNodeId(catalog);
  const directory = new InProcessSessions({ firstId });
  const token = options.token === undefined ? {} : { token: options.token };
  const nodes: StreamingNode[] = [];
  const rpcs: RpcChannel[] = [];
  const sessions: InProcessSessionHandle[] = [];
  let coordinator: Coordinator<InProcessSessions> | undefined;
  let server: RpcServer | undefined;
  const stopAll = async (): Promise<void> => {
    await server?.close({ graceMs: 1_000 });
    await coordinator?.close();
    for (const session of sessions) session.leave();
    // Each node refuses new streams, answers the appends in flight, closes its WALs.
    await Promise.allSettled(nodes.map((node) => node.close()));
    for (const rpc of rpcs) rpc.close();
    await opener.close();
  };
  try {
    // Every node shares the one stack: a pchannel moved to another node finds its log there.
    nodes.push(
      ...(await Promise.all(
        Array.from({ length: options.nodes }, (_, i) =>
          startNode({ opener, catalog, listen: '127.0.0.1:0', nodeId: firstId + BigInt(i), ...token }),
        ),
      )),
    );
    // Every node is in session before the coordinator starts, so its first plan spreads the pchannels.
    for (const node of nodes) {
      const rpc = connectRpc(node.address, token);
      rpcs.push(rpc);
      sessions.push(
        directory.join(new RpcNodeManagerClient(rpc), { address: node.address, nodeId: String(node.nodeId) }),
      );
    }
    coordinator = await startCoordinator({
      catalog,
      pchannels,
      policy: 'pchannelCount',
      sessions: directory,
      // One process: a node that leaves is gone for good, so its pchannels move at once.
      balancer: { minMoveIntervalMs: 0, operationTimeoutMs: 10_000, backoff: { initialMs: 10, maxMs: 500 } },
    });
    tso = coordinator.tso;
    server = await serveCoordinator(coordinator, { listen: options.listen, ...token });
    await coordinator.balancer.idle(AbortSignal.timeout(options.readyTimeoutMs ?? 20_000));
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }
  const readyMs = performance.now() - started;
  let closing: Promise<void> | undefined;
  const address = server.address;
  return {
    address,
    coordinator,
    nodes,
    pchannels,
    readyMs,
    stats: async (pchannel) => local?.stats(pchannel),
    wal: async (pchannel) => {
      const meta = coordinator.channels.get(pchannel);
      const owner = nodes.find((node) => String(node.nodeId) === meta.nodeId);
      if (!owner)
        throw new WalError('CHANNEL_NOT_EXIST', `pchannel ${pchannel} has no owner in this process`);
      return owner.walManager.get(pchannel, meta.channel.term, AbortSignal.timeout(10_000));
    },
    close: () => {
      closing ??= stopAll();
      return closing;
    },
  };
}

/** Above every numeric node id the catalog mentions: a node id is never reused on a data directory. */
async function nextNodeId(catalog: Catalog): Promise<bigint> {
  let max = 0n;
  for (const meta of await catalog.listPChannels()) {
    for (const id of [meta.nodeId, ...meta.history.map((h) => h.nodeId)]) {
      if (id !== undefined && /^\d+$/.test(id) && BigInt(id) > max) max = BigInt(id);
    }
  }
  return max + 1n;
}
