import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createEtcdClient, EtcdCatalog } from '@walstream/catalog-etcd';
import {
  type AppendResult,
  defineMessageType,
  type MessageTypeDefinition,
  MutableMessage,
  messageTypes,
  type PChannelMeta,
  vchannelName,
} from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import type { Etcd3 } from 'etcd3';
import { EtcdSessionDirectory } from '../../src/index.js';
import type { CoordConfig } from './coord-process.ts';
import type { EtcdNodeConfig } from './etcd-node-process.ts';
import { JsonChild } from './json-child.js';

const nodeScript = fileURLToPath(new URL('./etcd-node-process.ts', import.meta.url));
const coordScript = fileURLToPath(new URL('./coord-process.ts', import.meta.url));

export const FailoverDdl: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('CoordFailoverDdl') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'CoordFailoverDdl', code: 2391, flags: {} });

export interface NodeProcess {
  readonly child: JsonChild;
  readonly nodeId: string;
  readonly address: string;
}

/**
 * Coordinator and node processes on one etcd and one Kafka broker, and this process watching them as a
 * client would: the catalog's metas (owner, term, state) and the node sessions, through which it appends
 * to a pchannel's owner at its term.
 */
export class ProcessCluster {
  readonly prefix = `failover-${randomBytes(5).toString('hex')}/`;
  readonly topicPrefix = `fo-${randomBytes(4).toString('hex')}-`;
  readonly client: Etcd3;
  readonly catalog: EtcdCatalog;
  readonly nodes: NodeProcess[] = [];
  readonly coordinators: JsonChild[] = [];
  directory!: EtcdSessionDirectory;
  #coordinatorCount = 0;

  constructor(
    readonly endpoints: readonly string[],
    readonly bootstrap: string,
    readonly pchannels: readonly string[],
    readonly ttlSeconds = 2,
  ) {
    this.client = createEtcdClient({ endpoints });
    this.catalog = new EtcdCatalog({ client: this.client, prefix: this.prefix });
  }

  async open(): Promise<void> {
    this.directory = await EtcdSessionDirectory.open({ client: this.client, prefix: this.prefix });
  }

  async spawnNode(): Promise<NodeProcess> {
    const config: EtcdNodeConfig = {
      endpoints: this.endpoints,
      prefix: this.prefix,
      ttlSeconds: this.ttlSeconds,
      bootstrap: this.bootstrap,
      topicPrefix: this.topicPrefix,
    };
    const child = new JsonChild(nodeScript, config);
    const hello = await child.waitLine((l) => typeof l.nodeId === 'string', 'node registration', 60_000);
    const node = { child, nodeId: hello.nodeId as string, address: hello.address as string };
    this.nodes.push(node);
    return node;
  }

  /** `rebalance: false`: no balance moves (first placements, and moves away from lost or drained nodes, go on). */
  spawnCoordinator(options: { minMoveIntervalMs?: number; rebalance?: boolean } = {}): JsonChild {
    const config: CoordConfig = {
      endpoints: this.endpoints,
      prefix: this.prefix,
      pchannels: this.pchannels,
      ttlSeconds: this.ttlSeconds,
      candidate: `coord-${++this.#coordinatorCount}`,
      minMoveIntervalMs: options.minMoveIntervalMs ?? 0,
      rebalance: options.rebalance ?? true,
    };
    const child = new JsonChild(coordScript, config);
    this.coordinators.push(child);
    return child;
  }

  /** The address of `coordinator` once it is active. */
  async whenActive(coordinator: JsonChild, timeoutMs = 30_000): Promise<string> {
    const line = await coordinator.waitLine((l) => l.role === 'active', 'active role', timeoutMs);
    return line.address as string;
  }

  async metas(): Promise<PChannelMeta[]> {
    return this.catalog.listPChannels();
  }

  /** Every pchannel ASSIGNED on a node that is in session and not in `avoid`. */
  async untilAssigned(avoid: readonly string[] = [], timeoutMs = 30_000): Promise<PChannelMeta[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const metas = await this.metas();
      const live = new Set(this.directory.sessions.map((s) => s.nodeId));
      if (
        metas.length === this.pchannels.length &&
        metas.every(
          (m) =>
            m.state === 'assigned' &&
            m.nodeId !== undefined &&
            live.has(m.nodeId) &&
            !avoid.includes(m.nodeId),
        )
      ) {
        return metas;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `pchannels not all assigned within ${timeoutMs} ms: ${metas.map((m) => `${m.channel.name}@${m.nodeId}/${m.channel.term}/${m.state}`).join(' ')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  vchannel(pchannel: string): string {
    return vchannelName(pchannel, 'c');
  }

  /** Appends on the owner the catalog names, at its term; rejects with the node's error. */
  async append(meta: PChannelMeta, message: MutableMessage): Promise<AppendResult> {
    const session = this.directory.sessions.find((s) => s.nodeId === meta.nodeId);
    if (!session?.client.append) throw new Error(`node ${meta.nodeId} has no session`);
    return session.client.append(meta.channel, message, AbortSignal.timeout(5_000));
  }

  async createVChannels(): Promise<void> {
    for (const meta of await this.untilAssigned()) {
      await this.append(meta, createVChannel(this.vchannel(meta.channel.name)));
    }
  }

  note(pchannel: string, seq: number): MutableMessage {
    return new MutableMessage(new Uint8Array([seq % 256]), { seq: String(seq), _t: '3001' }).withVChannel(
      this.vchannel(pchannel),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.coordinators, ...this.nodes.map((n) => n.child)].map((c) => c.kill()));
    await this.directory?.close();
    this.client.close();
  }
}

/** p50/p99/max of a list of durations (nearest rank). */
export function percentiles(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}
