import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import {
  type Coordinator,
  type InProcessSessionHandle,
  RpcNodeManagerClient,
  serveCoordinator,
  startCoordinator,
} from '@walstream/coord';
import {
  defineMessageType,
  type ImmutableMessage,
  MemoryCatalog,
  type MessageTypeDefinition,
  type MutableMessage,
  messageTypes,
  newMessage,
} from '@walstream/core';
import { type FlowControlOptions, type StreamingNode, startNode } from '@walstream/node';
import { connectRpc, type RpcChannel, type RpcServer } from '@walstream/rpc';

export const Note: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('ClientTestNote') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'ClientTestNote', code: 3171, flags: {} });

/** A user message on `vchannel` carrying its sequence number. */
export function note(vchannel: string, seq: number): MutableMessage {
  return newMessage(Note)
    .vchannel(vchannel)
    .property('seq', String(seq))
    .body(new Uint8Array([seq % 256]))
    .build();
}

/** The sequence number of a test note, undefined for anything else (TimeTicks, vchannel creation). */
export function seqOf(message: ImmutableMessage): number | undefined {
  if (message.messageType !== Note.code) return undefined;
  const seq = message.properties.seq;
  return seq === undefined ? undefined : Number(seq);
}

export interface WireNode {
  readonly node: StreamingNode;
  readonly rpc: RpcChannel;
  readonly session: InProcessSessionHandle;
}

/**
 * A coordinator served on loopback gRPC (memory catalog) and StreamingNodes (`startNode`, memory adapter on
 * one shared store, so a pchannel moved to another node finds its log) joined to it by address.
 */
export class Cluster {
  readonly catalog = new MemoryCatalog();
  readonly store = new MemoryLogStore();
  readonly nodes: WireNode[] = [];
  coordinator!: Coordinator;
  server!: RpcServer;

  static async start(
    pchannels: readonly string[],
    nodeCount: number,
    nodeOptions: { flowControl?: FlowControlOptions } = {},
  ): Promise<Cluster> {
    const cluster = new Cluster();
    cluster.coordinator = await startCoordinator({
      catalog: cluster.catalog,
      pchannels,
      policy: 'pchannelCount',
      balancer: { minMoveIntervalMs: 0, operationTimeoutMs: 5_000, backoff: { initialMs: 10, maxMs: 200 } },
    });
    for (let i = 0; i < nodeCount; i++)
      await cluster.addNode(BigInt(101 + i), 5_000, nodeOptions.flowControl);
    await cluster.coordinator.balancer.idle(AbortSignal.timeout(20_000));
    cluster.server = await serveCoordinator(cluster.coordinator, { listen: '127.0.0.1:0' });
    return cluster;
  }

  async addNode(id: bigint, closeGraceMs = 5_000, flowControl?: FlowControlOptions): Promise<WireNode> {
    const node = await startNode({
      ...(flowControl ? { flowControl } : {}),
      adapter: memoryAdapter({ store: this.store }),
      catalog: this.catalog,
      listen: '127.0.0.1:0',
      nodeId: id,
      allocator: this.coordinator.tso,
      closeGraceMs,
    });
    const rpc = connectRpc(node.address);
    const session = this.coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
      address: node.address,
      nodeId: String(id),
    });
    const wire = { node, rpc, session };
    this.nodes.push(wire);
    return wire;
  }

  ownerOf(pchannel: string): WireNode {
    const meta = this.coordinator.channels.get(pchannel);
    const owner = this.nodes.find((n) => String(n.node.nodeId) === meta.nodeId);
    if (!owner) throw new Error(`${pchannel} has no owner`);
    return owner;
  }

  async close(): Promise<void> {
    await this.server?.close({ graceMs: 0 });
    await this.coordinator?.close();
    for (const n of this.nodes.splice(0)) {
      n.rpc.close();
      await n.node.close().catch(() => {});
      n.session.leave();
    }
  }
}

export { waitFor } from '@walstream/testkit';
