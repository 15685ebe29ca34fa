import { localAdapter } from '@walstream/adapter-local';
import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import {
  type Coordinator,
  type InProcessSessionHandle,
  RpcNodeManagerClient,
  serveCoordinator,
  startCoordinator,
} from '@walstream/coord';
import { type Catalog, MemoryCatalog, WalError } from '@walstream/core';
import { checkKnownKeys, integerOption } from '@walstream/core/internal';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { type StreamingNode, startNode } from '@walstream/node';
import { connectRpc, type RpcChannel, type RpcServer } from '@walstream/rpc';

const WHERE = 'createClient: embedded';

/** An in-process service behind the client: a coordinator and its node(s), on loopback gRPC. */
export interface EmbeddedOptions {
  /** The pchannels the coordinator assigns (names: letters, digits, `-`). */
  readonly pchannels: readonly string[];
  /** The durable local store (`@walstream/adapter-local`) in this directory. Give this or `memory`. */
  readonly dataDir?: string;
  /** The in-memory store: gone when the client closes. Give this or `dataDir`. */
  readonly memory?: true;
  /**
   * The coordinator's and nodes' catalog (pchannel terms, checkpoints, broadcast tasks, the TSO mark).
   * Default: in memory, which is enough for `memory` and for one run on `dataDir`; a restart on the same
   * `dataDir` needs the catalog of the previous run (the store fences the terms a fresh catalog starts at).
   */
  readonly catalog?: Catalog;
  /** StreamingNodes to start, sharing the store (`memory` only; `dataDir` takes one). Default 1. */
  readonly nodes?: number;
}

/** The running service: the coordinator's address, and how to stop it. */
export interface EmbeddedService {
  readonly address: string;
  readonly coordinator: Coordinator;
  readonly nodes: readonly StreamingNode[];
  close(): Promise<void>;
}

interface Member {
  readonly rpc: RpcChannel;
  readonly session: InProcessSessionHandle;
}

export function checkEmbedded(options: EmbeddedOptions): void {
  checkKnownKeys(WHERE, options, ['pchannels', 'dataDir', 'memory', 'catalog', 'nodes'], 'embedded.');
  const bad = (option: string, message: string): WalError =>
    new WalError('INVALID_ARGUMENT', `${WHERE}: ${message}`, {
      retriable: false,
      details: { option: `embedded.${option}` },
    });
  const { pchannels, dataDir, memory } = options;
  if (!Array.isArray(pchannels) || pchannels.length === 0 || !pchannels.every((p) => typeof p === 'string')) {
    throw bad('pchannels', `pchannels must be a non-empty list of names, got ${JSON.stringify(pchannels)}`);
  }
  if ((dataDir === undefined) === (memory === undefined)) {
    throw bad('dataDir', 'give exactly one of dataDir (the local durable store) and memory: true');
  }
  if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir === '')) {
    throw bad('dataDir', `dataDir must be a directory path, got ${JSON.stringify(dataDir)}`);
  }
  if (memory !== undefined && memory !== true) throw bad('memory', 'memory must be true when given');
  const nodes = integerOption(WHERE, 'embedded.nodes', options.nodes, 1, { min: 1, max: 16 });
  if (dataDir !== undefined && nodes !== 1) {
    throw bad(
      'nodes',
      'a dataDir is opened by one node (the store locks its directory); use memory for more',
    );
  }
}

/**
 * Starts a coordinator and its node(s) in this process on loopback gRPC, as a deployment runs them apart
 * (broadcast copies go through each owner's node client, as there).
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedService> {
  checkEmbedded(options);
  const catalog = options.catalog ?? new MemoryCatalog();
  const store = options.memory ? new MemoryLogStore() : undefined;
  const adapter = (): WalImplsBuilder =>
    store ? memoryAdapter({ store }) : localAdapter({ directory: options.dataDir as string });
  const coordinator = await startCoordinator({
    catalog,
    pchannels: options.pchannels,
    // Spread by count, moved as soon as a node joins: the nodes join one after another at start, and a
    // balanced count never moves again.
    policy: 'pchannelCount',
    balancer: { minMoveIntervalMs: 0 },
  });
  const members: Member[] = [];
  const nodes: StreamingNode[] = [];
  let server: RpcServer | undefined;
  const close = async (): Promise<void> => {
    await server?.close({ graceMs: 0 });
    await coordinator.close();
    for (const member of members.splice(0)) {
      member.session.leave();
      member.rpc.close();
    }
    for (const node of nodes.splice(0)) await node.close();
  };
  try {
    for (let i = 0; i < (options.nodes ?? 1); i++) {
      nodes.push(
        await startNode({
          adapter: adapter(),
          catalog,
          listen: '127.0.0.1:0',
          allocator: coordinator.tso,
          // The client's streams are cancelled before the nodes close: nothing is left to wait for.
          closeGraceMs: 1_000,
        }),
      );
    }
    // All join at once, so the first layout spreads the pchannels over every node.
    for (const node of nodes) {
      const rpc = connectRpc(node.address);
      const session = coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
        address: node.address,
        nodeId: String(node.nodeId),
      });
      members.push({ rpc, session });
    }
    await coordinator.balancer.idle(AbortSignal.timeout(30_000));
    // A round planned while the first assignments were in flight could not move them: plan once more now
    // that every node is in and nothing moves, so the pchannels end up spread.
    await coordinator.balancer.trigger();
    await coordinator.balancer.idle(AbortSignal.timeout(30_000));
    server = await serveCoordinator(coordinator, { listen: '127.0.0.1:0' });
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  return { address: server.address, coordinator, nodes: [...nodes], close };
}
