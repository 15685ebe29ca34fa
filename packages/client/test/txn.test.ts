/**
 * Transactions over the wire when their pchannel moves: a coordinator and StreamingNodes on loopback gRPC
 * (memory adapter, one shared store), the client's txn on a Produce stream of its own.
 */

import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { RpcNodeManagerClient } from '@walstream/coord';
import {
  type BackgroundErrorEvent,
  hasCode,
  type ImmutableMessage,
  ImmutableTxnMessage,
  SystemMessageType,
  vchannelName,
  type WalError,
} from '@walstream/core';
import { connectRpc } from '@walstream/rpc';
import { afterEach, describe, expect, test } from 'vitest';
import { type Client, createClient } from '../src/index.js';
import { Cluster, note, seqOf, type WireNode, waitFor } from './support/cluster.js';

let cluster: Cluster | undefined;
let client: Client | undefined;
let retried: BackgroundErrorEvent[] = [];
const relays: Relay[] = [];

afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.close();
  await client?.close();
  client = undefined;
  await cluster?.close();
  cluster = undefined;
});

/** A cluster of two nodes serving `pchannel`. */
async function start(pchannel: string): Promise<{ cluster: Cluster; client: Client }> {
  cluster = await Cluster.start([pchannel], 2);
  retried = [];
  client = createClient({
    coord: cluster.server.address,
    backoff: { initialMs: 10, maxMs: 200 },
    onError: (event) => retried.push(event),
  });
  return { cluster, client };
}

interface Relay {
  readonly address: string;
  /** Destroys every connection through it (new ones are still relayed). */
  cut(): void;
  close(): Promise<void>;
}

/** A TCP relay to `target`, on loopback. */
async function startRelay(target: string): Promise<Relay> {
  const at = target.lastIndexOf(':');
  const sockets = new Set<Socket>();
  const server = createServer((incoming) => {
    const outgoing = connect({ host: target.slice(0, at), port: Number(target.slice(at + 1)) });
    for (const socket of [incoming, outgoing]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        incoming.destroy();
        outgoing.destroy();
      });
    }
    incoming.pipe(outgoing).pipe(incoming);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut,
    close: () => {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Moves `pchannel` to a node the client reaches through a TCP relay the test can cut, as a network would:
 * the owner leaves and joins again under the relay's address.
 */
async function ownerBehindRelay(
  cluster: Cluster,
  client: Client,
  pchannel: string,
): Promise<{ relay: Relay; owner: WireNode }> {
  const owner = cluster.ownerOf(pchannel);
  const other = cluster.nodes.find((n) => n !== owner)!;
  const relay = await startRelay(owner.node.address);
  relays.push(relay);
  const rpc = connectRpc(owner.node.address);
  owner.session.leave();
  cluster.nodes.push({
    node: owner.node,
    rpc,
    session: cluster.coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
      address: relay.address,
      nodeId: String(owner.node.nodeId),
    }),
  });
  await cluster.coordinator.balancer.idle(AbortSignal.timeout(20_000));
  // Wherever the pchannel went meanwhile, it lives behind the relay from now on.
  if (cluster.ownerOf(pchannel) === other) {
    await cluster.coordinator.balancer.drain(String(other.node.nodeId), AbortSignal.timeout(20_000));
  }
  await waitFor(
    () => client.assignment?.channels.get(pchannel)?.address === relay.address,
    'owner behind relay',
  );
  return { relay, owner };
}

/** Reads `vchannel` from the start up to the note `last` (bounded); TimeTicks left out. */
async function readTo(client: Client, vchannel: string, last: number): Promise<ImmutableMessage[]> {
  const read: ImmutableMessage[] = [];
  for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(15_000) })) {
    if (message.messageType === SystemMessageType.TimeTick) continue;
    read.push(message);
    if (seqOf(message) === last) break;
  }
  return read;
}

/** Waits until the client holds an owner of `pchannel` at a term above `term`. */
async function movedAbove(client: Client, pchannel: string, term: bigint): Promise<void> {
  await waitFor(() => (client.assignment?.channels.get(pchannel)?.pchannel.term ?? 0n) > term, 'the move');
}

describe('client txn', () => {
  test('a txn whose pchannel is drained to another node goes on there and commits whole', async () => {
    const { cluster, client } = await start('txd');
    const vchannel = vchannelName('txd', 'v');
    await client.createVChannel(vchannel);
    const txn = await client.txn(vchannel, { keepaliveMs: 20_000 });
    await txn.append(note(vchannel, 1));
    await txn.append(note(vchannel, 2));
    const owner = cluster.ownerOf('txd');
    const term = cluster.coordinator.channels.get('txd').channel.term;
    await cluster.coordinator.balancer.drain(String(owner.node.nodeId), AbortSignal.timeout(20_000));
    await movedAbove(client, 'txd', term);
    expect(cluster.ownerOf('txd').node.nodeId).not.toBe(owner.node.nodeId);
    await txn.append(note(vchannel, 3));
    const committed = await txn.commit();
    // The txn's stream did end and was opened again on the new owner.
    expect(retried.some((e) => e.component === 'client.txn')).toBe(true);
    await client.append(note(vchannel, 9));
    const units = (await readTo(client, vchannel, 9)).filter((m) => m instanceof ImmutableTxnMessage);
    expect(units).toHaveLength(1);
    expect((units[0] as ImmutableTxnMessage).bodies.map(seqOf)).toEqual([1, 2, 3]);
    expect(units[0]?.timeTick).toBe(committed.timeTick);
  }, 30_000);

  test('a txn whose stream breaks with one of its appends in flight fails TRANSACTION_EXPIRED and is never read', async () => {
    const { cluster, client } = await start('txk');
    const { relay, owner } = await ownerBehindRelay(cluster, client, 'txk');
    const vchannel = vchannelName('txk', 'v');
    await client.createVChannel(vchannel);
    const txn = await client.txn(vchannel, { keepaliveMs: 20_000 });
    await txn.append(note(vchannel, 1));
    // The store holds the next append while the connection is cut under it.
    cluster.store.faults('txk').set({ appendDelayMs: 1_000 });
    const inFlight = txn.append(note(vchannel, 2)).catch((e: unknown) => e);
    await waitFor(() => owner.node.flowControl().appendsInFlight > 0, 'the append in flight at the node');
    relay.cut();
    const error = (await inFlight) as WalError;
    cluster.store.faults('txk').clear();
    expect(hasCode(error, 'TRANSACTION_EXPIRED'), String(error)).toBe(true);
    expect(error.retriable).toBe(false);
    expect(error.details.reason).toBe('append-outcome-unknown');
    expect(txn.state).toBe('failed');
    const commit = await txn.commit().catch((e: unknown) => e);
    expect(hasCode(commit, 'INVALID_TRANSACTION_STATE'), String(commit)).toBe(true);
    await txn.rollback();
    // The body did land (the node finished it after the cut), but no commit follows it: never read.
    await waitFor(() => owner.node.flowControl().appendsInFlight === 0, 'the held append finished');
    await client.append(note(vchannel, 9));
    const read = await readTo(client, vchannel, 9);
    expect(read.some((m) => m instanceof ImmutableTxnMessage)).toBe(false);
    expect(read.flatMap((m) => (seqOf(m) === undefined ? [] : [seqOf(m)]))).toEqual([9]);
  }, 30_000);

  test('finished txns leave nothing behind on the client: 30 in a row raise no listener-leak warning', async () => {
    const { client } = await start('txl');
    const vchannel = vchannelName('txl', 'v');
    await client.createVChannel(vchannel);
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 30; i++) {
        const txn = await client.txn(vchannel);
        await txn.append(note(vchannel, i));
        if (i % 2 === 0) await txn.commit();
        else await txn.rollback();
      }
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.message)).toEqual([]);
  });

  test('a txn idle past its keepalive is expired by the node: its commit fails TRANSACTION_EXPIRED and it is never read', async () => {
    const { client } = await start('txe');
    const vchannel = vchannelName('txe', 'v');
    await client.createVChannel(vchannel);
    const keepaliveMs = 200;
    const txn = await client.txn(vchannel, { keepaliveMs });
    const last = await txn.append(note(vchannel, 1));
    // The node expires the txn at the first TimeTick past its last message's timetick + the keepalive.
    const expiry = last.timeTick + (BigInt(keepaliveMs) << 18n);
    for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(15_000) })) {
      if (message.messageType === SystemMessageType.TimeTick && message.timeTick > expiry) break;
    }
    const error = await txn.commit().catch((e: unknown) => e);
    expect(hasCode(error, 'TRANSACTION_EXPIRED'), String(error)).toBe(true);
    expect(txn.state).toBe('failed');
    await txn.rollback();
    await client.append(note(vchannel, 9));
    const read = await readTo(client, vchannel, 9);
    expect(read.some((m) => m instanceof ImmutableTxnMessage)).toBe(false);
  });

  test('a signal given to the begin or to an append concerns that call only: aborted later, the txn goes on on the same stream', async () => {
    const { client } = await start('txs');
    const vchannel = vchannelName('txs', 'v');
    await client.createVChannel(vchannel);
    const begin = new AbortController();
    const txn = await client.txn(vchannel, { signal: begin.signal });
    const first = new AbortController();
    await txn.append(note(vchannel, 1), { signal: first.signal });
    begin.abort();
    first.abort();
    await txn.append(note(vchannel, 2));
    await txn.commit();
    expect(retried.filter((e) => e.component === 'client.txn')).toEqual([]);
  });

  test('bad input: a message of another vchannel, a bad keepalive, a txn on a malformed vchannel', async () => {
    const { client } = await start('txb');
    const vchannel = vchannelName('txb', 'v');
    await client.createVChannel(vchannel);
    const txn = await client.txn(vchannel);
    const other = await txn.append(note(vchannelName('txb', 'w'), 1)).catch((e: unknown) => e);
    expect(hasCode(other, 'INVALID_ARGUMENT'), String(other)).toBe(true);
    expect((other as WalError).details.written).toBe(false);
    const keepalive = await client.txn(vchannel, { keepaliveMs: -1 }).catch((e: unknown) => e);
    expect(hasCode(keepalive, 'INVALID_ARGUMENT'), String(keepalive)).toBe(true);
    const malformed = await client.txn('no-vchannel-here').catch((e: unknown) => e);
    expect(hasCode(malformed, 'INVALID_ARGUMENT'), String(malformed)).toBe(true);
    // The failed append of another vchannel did not touch the txn: it still commits.
    await txn.append(note(vchannel, 2));
    await expect(txn.commit()).resolves.toBeDefined();
  });
});
