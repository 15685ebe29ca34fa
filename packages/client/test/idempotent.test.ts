/**
 * Idempotent appends over loopback gRPC: a coordinator and StreamingNodes in this process (memory adapter
 * on one shared store), each node behind a TCP proxy that loses acknowledgements — the append lands, the
 * node's answer is dropped and the connection then broken — so the client retries an append that is
 * already in the log.
 */
import { memoryAdapter } from '@walstream/adapter-memory';
import { RpcNodeManagerClient, serveCoordinator, startCoordinator } from '@walstream/coord';
import { hasCode, type ImmutableMessage, messageIdEquals, vchannelName, WalError } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { type IdempotenceOptions, startNode } from '@walstream/node';
import { connectRpc, type WireAppendResult } from '@walstream/rpc';
import { afterEach, describe, expect, test } from 'vitest';
import { type Client, createClient } from '../src/index.js';
import { AckProxy } from './support/ack-proxy.js';
import { Cluster, note, seqOf, waitFor } from './support/cluster.js';

let cluster: Cluster | undefined;
let client: Client | undefined;
const proxies: AckProxy[] = [];

afterEach(async () => {
  await client?.close();
  client = undefined;
  await cluster?.close();
  cluster = undefined;
  for (const proxy of proxies.splice(0)) await proxy.close();
});

interface ProxiedNode {
  readonly nodeId: bigint;
  readonly proxy: AckProxy;
  duplicates(): number;
}

/** A cluster whose nodes are known to the coordinator (and so to clients) by their proxy's address. */
async function start(
  pchannel: string,
  nodes: number,
  idempotent: boolean,
  idempotence?: IdempotenceOptions,
): Promise<ProxiedNode[]> {
  const c = new Cluster();
  cluster = c;
  c.coordinator = await startCoordinator({
    catalog: c.catalog,
    pchannels: [pchannel],
    policy: 'pchannelCount',
    balancer: { minMoveIntervalMs: 0, operationTimeoutMs: 5_000, backoff: { initialMs: 10, maxMs: 200 } },
  });
  const proxied: ProxiedNode[] = [];
  for (let i = 0; i < nodes; i++) {
    const nodeId = BigInt(301 + i);
    const node = await startNode({
      adapter: memoryAdapter({ store: c.store }),
      catalog: c.catalog,
      listen: '127.0.0.1:0',
      nodeId,
      allocator: c.coordinator.tso,
      closeGraceMs: 1_000,
      ...(idempotence ? { idempotence } : {}),
    });
    const proxy = await AckProxy.start(node.address);
    proxies.push(proxy);
    const rpc = connectRpc(node.address);
    const session = c.coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
      address: proxy.address,
      nodeId: String(nodeId),
    });
    c.nodes.push({ node, rpc, session });
    proxied.push({ nodeId, proxy, duplicates: () => node.idempotence().duplicates });
  }
  await c.coordinator.balancer.idle(AbortSignal.timeout(20_000));
  c.server = await serveCoordinator(c.coordinator, { listen: '127.0.0.1:0' });
  client = createClient({ coord: c.server.address, backoff: { initialMs: 10, maxMs: 200 }, idempotent });
  return proxied;
}

/** The copies of note `seq` the store holds, in log order. */
function copies(pchannel: string, seq: number): ImmutableMessage[] {
  return cluster!.store.messages(pchannel).filter((m) => seqOf(m) === seq);
}

function expectOriginal(result: WireAppendResult, written: ImmutableMessage): void {
  expect(messageIdEquals(result.messageId, written.id), 'the id the log gave it').toBe(true);
  expect(result.timeTick).toBe(written.timeTick);
}

/**
 * Appends note `seq` while the owner's proxy holds its answers; once the note is in the log, `afterLanding`
 * runs and the proxy then breaks the connection, so the client retries an append that already landed.
 */
async function appendWithLostAck(
  pchannel: string,
  owner: ProxiedNode,
  seq: number,
  afterLanding: () => Promise<void> = async () => {},
): Promise<WireAppendResult> {
  const vchannel = vchannelName(pchannel, 'v0');
  owner.proxy.hold();
  const appended = client!.append(note(vchannel, seq));
  await waitFor(() => copies(pchannel, seq).length > 0, `note ${seq} in the log`);
  await afterLanding();
  owner.proxy.cut();
  return appended;
}

function ownerOf(nodes: ProxiedNode[], pchannel: string): ProxiedNode {
  const nodeId = cluster!.coordinator.channels.get(pchannel).nodeId;
  const owner = nodes.find((n) => String(n.nodeId) === nodeId);
  if (!owner) throw new Error(`${pchannel} has no owner`);
  return owner;
}

describe('idempotent appends with lost acknowledgements', () => {
  test('without idempotence the retry of a landed append writes it a second time (the fault is real)', async () => {
    const nodes = await start('ida0', 1, false);
    await client!.append(createVChannel(vchannelName('ida0', 'v0')));
    await appendWithLostAck('ida0', ownerOf(nodes, 'ida0'), 1);
    expect(copies('ida0', 1)).toHaveLength(2);
  }, 30_000);

  test('the retry on the same owner lands once, and the caller gets the first append’s id and timetick', async () => {
    const nodes = await start('idb0', 1, true);
    await client!.append(createVChannel(vchannelName('idb0', 'v0')));
    const owner = ownerOf(nodes, 'idb0');
    const results: WireAppendResult[] = [];
    for (let seq = 1; seq <= 3; seq++) {
      results.push(await appendWithLostAck('idb0', owner, seq));
      expect(owner.proxy.dropped, 'the answer was dropped').toBeGreaterThan(0);
    }
    for (let seq = 1; seq <= 3; seq++) {
      const written = copies('idb0', seq);
      expect(written, `note ${seq} once in the log`).toHaveLength(1);
      expectOriginal(results[seq - 1]!, written[0]!);
    }
    expect(owner.duplicates(), 'each retry answered from the window').toBe(3);
  }, 30_000);

  test('the retry after a move lands once: the new owner reads the window from the log and answers with the original result', async () => {
    const nodes = await start('idc0', 2, true);
    await client!.append(createVChannel(vchannelName('idc0', 'v0')));
    await client!.append(note(vchannelName('idc0', 'v0'), 0));
    const first = ownerOf(nodes, 'idc0');
    const termBefore = cluster!.coordinator.channels.get('idc0').channel.term;
    const result = await appendWithLostAck('idc0', first, 1, async () => {
      // The owner drains while the answer is held: the pchannel moves before the client can retry.
      await cluster!.coordinator.balancer.drain(String(first.nodeId), AbortSignal.timeout(20_000));
    });
    const second = ownerOf(nodes, 'idc0');
    expect(second.nodeId).not.toBe(first.nodeId);
    expect(cluster!.coordinator.channels.get('idc0').channel.term).toBeGreaterThan(termBefore);
    const written = copies('idc0', 1);
    expect(written, 'note 1 once in the log').toHaveLength(1);
    expectOriginal(result, written[0]!);
    expect(second.duplicates(), 'the new owner answered the retry from the window it read').toBe(1);
    // And the producer goes on: the next append is written at the new term.
    const next = await client!.append(note(vchannelName('idc0', 'v0'), 2));
    expect(next.timeTick).toBeGreaterThan(result.timeTick);
    expect(copies('idc0', 2)).toHaveLength(1);
  }, 30_000);

  test('appends sent and abandoned skip the node past its window: the producer goes on under a new id, and the next append lands once', async () => {
    const nodes = await start('idd0', 1, true, { maxSequences: 2 });
    const vchannel = vchannelName('idd0', 'v0');
    await client!.append(createVChannel(vchannel));
    const owner = ownerOf(nodes, 'idd0');
    // Sequences 2, 3, 4 are sent and never arrive; their callers give up.
    owner.proxy.holdRequests();
    const abandon = new AbortController();
    const lost = [2, 3, 4].map((seq) =>
      client!.append(note(vchannel, seq), { signal: abandon.signal }).catch((e) => e),
    );
    await waitFor(() => owner.proxy.droppedRequests > 0, 'the appends sent into the void');
    abandon.abort();
    owner.proxy.cut();
    for (const error of await Promise.all(lost)) expect(WalError.is(error) && error.code).toBe('ABORTED');
    // Sequence 5 is more than 2 past the highest the node saw (1): refused, then sent again under a new id.
    const result = await client!.append(note(vchannel, 5));
    const written = copies('idd0', 5);
    expect(written).toHaveLength(1);
    expectOriginal(result, written[0]!);
    const first = cluster!.store.messages('idd0').find((m) => m.properties._pid !== undefined);
    expect(written[0]!.properties._pid).not.toBe(first?.properties._pid);
    expect(written[0]!.properties._psq).toBe('1');
    expect([2, 3, 4].map((seq) => copies('idd0', seq).length)).toEqual([0, 0, 0]);
  }, 30_000);

  test('createClient refuses an idempotent option that is not a boolean', () => {
    let error: unknown;
    try {
      createClient({ coord: '127.0.0.1:1', idempotent: 'yes' as unknown as boolean });
    } catch (e) {
      error = e;
    }
    expect(WalError.is(error) && hasCode(error, 'INVALID_ARGUMENT')).toBe(true);
    expect(error instanceof Error && error.message).toContain('idempotent');
  });
});
