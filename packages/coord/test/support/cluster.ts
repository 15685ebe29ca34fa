import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import {
  type BalancePolicy,
  createWal,
  MemoryCatalog,
  type PChannelInfo,
  type Wal,
  type WalOpener,
} from '@walstream/core';
import { walSemantics } from '@walstream/interceptors';
import { waitFor } from '@walstream/testkit';
import {
  Balancer,
  type BalancerOptions,
  ChannelManager,
  InProcessNode,
  InProcessSessions,
  type MoveEvent,
  type NodeManagerClient,
  type NodeStatusReport,
  pchannelCountPolicy,
  Tso,
} from '../../src/index.js';

/**
 * Nodes on the real WAL stack (memory adapter on one shared store + walSemantics()) in this process, a
 * coordinator's channel manager and balancer over one MemoryCatalog, the TSO as every node's allocator.
 */
export class TestCluster {
  readonly catalog: MemoryCatalog;
  readonly store = new MemoryLogStore();
  readonly sessions = new InProcessSessions();
  readonly tso: Tso;
  readonly nodes: InProcessNode[] = [];
  readonly openers: WalOpener[] = [];
  readonly moves: MoveEvent[] = [];
  channels!: ChannelManager;
  balancer!: Balancer;

  constructor(catalog: MemoryCatalog = new MemoryCatalog()) {
    this.catalog = catalog;
    this.tso = new Tso({ catalog });
  }

  /** Nodes that joined behind a wrapper, by their session id. */
  readonly #aliases = new Map<string, InProcessNode>();

  /**
   * A node on the shared store. `join: false` leaves joining to the test; `wrap` joins the node behind
   * a client made from it (a fault-injecting one, say).
   */
  async addNode(
    options: { join?: boolean; wrap?: (node: InProcessNode) => NodeManagerClient } = {},
  ): Promise<InProcessNode> {
    const opener = await createWal({ catalog: this.catalog, allocator: this.tso })
      .adapter(memoryAdapter({ store: this.store }))
      .use(...walSemantics())
      .build();
    this.openers.push(opener);
    const node = new InProcessNode(opener);
    if (options.wrap) this.#aliases.set(this.sessions.join(options.wrap(node)).nodeId, node);
    else if (options.join !== false) node.join(this.sessions);
    this.nodes.push(node);
    return node;
  }

  async startCoordinator(
    pchannels: readonly string[],
    options: Partial<BalancerOptions> & { policy?: BalancePolicy } = {},
  ): Promise<Balancer> {
    this.channels = await ChannelManager.recover({
      catalog: this.catalog,
      pchannels,
      incarnation: await this.tso.allocate(),
    });
    this.balancer = new Balancer({
      channels: this.channels,
      sessions: this.sessions,
      policy: options.policy ?? pchannelCountPolicy(),
      minMoveIntervalMs: 0,
      operationTimeoutMs: 2_000,
      statusTimeoutMs: 500,
      backoff: { initialMs: 10, maxMs: 200 },
      ...options,
    });
    this.balancer.moves$.subscribe((move) => this.moves.push(move));
    return this.balancer;
  }

  node(nodeId: string): InProcessNode {
    const node = this.#aliases.get(nodeId) ?? this.nodes.find((n) => n.nodeId === nodeId);
    if (!node) throw new Error(`no node ${nodeId}`);
    return node;
  }

  /** The WAL of `pchannel` on the owner the layout names. */
  ownerWal(pchannel: string): Wal {
    const assigned = this.balancer.layout.assignments.find((a) => a.pchannel.name === pchannel);
    if (!assigned) throw new Error(`${pchannel} is not assigned`);
    return this.node(assigned.nodeId).wal(pchannel);
  }

  ownerOf(pchannel: string): string | undefined {
    return this.balancer.layout.assignments.find((a) => a.pchannel.name === pchannel)?.nodeId;
  }

  termOf(pchannel: string): bigint {
    return this.channels.get(pchannel).channel.term;
  }

  async close(): Promise<void> {
    await this.balancer?.close();
    for (const node of this.nodes) await node.close();
    for (const opener of this.openers) await opener.close();
  }
}

export function names(count: number, prefix = 'pch'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
}

/** Bounded waits: a test that hangs fails with the condition's name instead. */
export function within(ms = 10_000): AbortSignal {
  return AbortSignal.timeout(ms);
}

/** Resolves once `condition` holds (checked every 5 ms); fails after `ms` quoting the condition. */
export function until(condition: () => boolean, ms = 10_000): Promise<void> {
  return waitFor(condition, `the condition ${condition}`, ms, 5);
}

/** A node whose Assign calls wait while the test holds its gate (open unless `hold()` was called). */
export class GatedAssign implements NodeManagerClient {
  readonly #node: InProcessNode;
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => {};
  /** Assign calls received, held or not. */
  assigns = 0;
  constructor(node: InProcessNode) {
    this.#node = node;
  }
  hold(): void {
    this.#gate = new Promise<void>((resolve) => {
      this.#open = resolve;
    });
  }
  release(): void {
    this.#open();
  }
  async assign(pchannel: PChannelInfo): Promise<void> {
    this.assigns++;
    await this.#gate;
    return this.#node.assign(pchannel);
  }
  remove(pchannel: PChannelInfo): Promise<void> {
    return this.#node.remove(pchannel);
  }
  collectStatus(): Promise<NodeStatusReport> {
    return this.#node.collectStatus();
  }
}
