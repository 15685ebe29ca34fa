/**
 * The balancer driving StreamingNodes over gRPC (loopback, one process): real `startNode` nodes on one
 * shared memory store, joined to the coordinator's sessions by address.
 */
import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import { hasCode, MemoryCatalog, vchannelName } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { type StreamingNode, startNode } from '@walstream/node';
import { connectRpc, type RpcChannel } from '@walstream/rpc';
import { afterEach, describe, expect, test } from 'vitest';
import {
  Balancer,
  ChannelManager,
  type InProcessSessionHandle,
  InProcessSessions,
  type MoveEvent,
  pchannelCountPolicy,
  RpcNodeManagerClient,
  Tso,
} from '../src/index.js';
import { names, within } from './support/cluster.js';

interface WireNode {
  readonly node: StreamingNode;
  readonly rpc: RpcChannel;
  readonly session: InProcessSessionHandle;
}

const catalog = new MemoryCatalog();
const store = new MemoryLogStore();
const tso = new Tso({ catalog });
const sessions = new InProcessSessions();
const nodes: WireNode[] = [];
let balancer: Balancer | undefined;
let channels: ChannelManager;

afterEach(async () => {
  await balancer?.close();
  for (const n of nodes.splice(0)) {
    n.rpc.close();
    await n.node.close();
    n.session.leave();
  }
});

async function addNode(id: bigint): Promise<WireNode> {
  const node = await startNode({
    adapter: memoryAdapter({ store }),
    catalog,
    listen: '127.0.0.1:0',
    nodeId: id,
    allocator: tso,
  });
  const rpc = connectRpc(node.address);
  const session = sessions.join(new RpcNodeManagerClient(rpc), { address: node.address, nodeId: String(id) });
  const wire = { node, rpc, session };
  nodes.push(wire);
  return wire;
}

function ownerOf(pchannel: string): WireNode {
  const meta = channels.get(pchannel);
  const owner = nodes.find((n) => String(n.node.nodeId) === meta.nodeId);
  if (!owner || meta.state !== 'assigned') throw new Error(`${pchannel} has no ready owner`);
  return owner;
}

let appended = 0;
async function appendOn(pchannel: string): Promise<void> {
  const meta = channels.get(pchannel);
  const wal = await ownerOf(pchannel).node.walManager.get(pchannel, meta.channel.term, within());
  await wal.append(createVChannel(vchannelName(pchannel, `w${appended++}`)));
}

describe('Balancer over gRPC with StreamingNodes', () => {
  test('assigns, drains a node (each pchannel closed there before it opens elsewhere) and moves a lost node’s pchannels', async () => {
    const [a, b, c] = [await addNode(101n), await addNode(102n), await addNode(103n)];
    const pchannels = names(6, 'wire');
    channels = await ChannelManager.recover({ catalog, pchannels, incarnation: await tso.allocate() });
    const moves: MoveEvent[] = [];
    balancer = new Balancer({
      channels,
      sessions,
      policy: pchannelCountPolicy(),
      minMoveIntervalMs: 0,
      operationTimeoutMs: 5_000,
      backoff: { initialMs: 10, maxMs: 200 },
    });
    balancer.moves$.subscribe((m) => moves.push(m));
    await balancer.idle(within());
    for (const p of pchannels) await appendOn(p);
    const onA = pchannels.filter((p) => channels.get(p).nodeId === '101');
    expect(onA.length).toBe(2);

    await balancer.drain('101', within());
    await balancer.idle(within());
    for (const p of onA) {
      expect(channels.get(p)).toMatchObject({ state: 'assigned', channel: { term: 2n } });
      expect(channels.get(p).nodeId).not.toBe('101');
      const error = await a?.node.walManager.get(p, 1n).catch((e: unknown) => e);
      expect(hasCode(error, 'CHANNEL_NOT_EXIST', 'UNMATCHED_CHANNEL_TERM'), String(error)).toBe(true);
      await appendOn(p);
    }

    const onB = pchannels.filter((p) => channels.get(p).nodeId === '102');
    await b?.node.close();
    b?.session.leave();
    await balancer.idle(within());
    for (const p of onB) {
      expect(channels.get(p).nodeId).toBe('103');
      await appendOn(p);
    }
    expect(pchannels.every((p) => channels.get(p).nodeId === String(c?.node.nodeId))).toBe(true);
    expect(
      moves
        .filter((m) => m.outcome === 'done')
        .map((m) => m.reason)
        .sort(),
    ).toEqual([
      ...new Array(2).fill('drain'),
      ...new Array(onB.length).fill('node-lost'),
      ...new Array(6).fill('unassigned'),
    ]);
  }, 60_000);
});
