/**
 * `read$`, the RxJS view of the resumable consumer, over loopback gRPC against a coordinator and
 * StreamingNodes in this process.
 */
import { type BackgroundErrorEvent, type Delivery, vchannelName, WalError } from '@walstream/core';
import { afterEach, describe, expect, test } from 'vitest';
import { type Client, createClient } from '../src/index.js';
import { Cluster, note, seqOf, waitFor } from './support/cluster.js';

let cluster: Cluster | undefined;
let client: Client | undefined;
let retried: BackgroundErrorEvent[] = [];

afterEach(async () => {
  await client?.close();
  client = undefined;
  await cluster?.close();
  cluster = undefined;
});

async function start(pchannel: string, nodes: number): Promise<{ cluster: Cluster; client: Client }> {
  cluster = await Cluster.start([pchannel], nodes);
  retried = [];
  client = createClient({
    coord: cluster.server.address,
    backoff: { initialMs: 10, maxMs: 200 },
    onError: (event) => retried.push(event),
  });
  return { cluster, client };
}

describe('read$', () => {
  test('never more than `window` deliveries unacknowledged; every message comes, in order, as acks arrive', async () => {
    const { client } = await start('rdw', 1);
    const vchannel = vchannelName('rdw', 'v');
    await client.createVChannel(vchannel);
    for (let seq = 0; seq < 24; seq++) await client.append(note(vchannel, seq));
    const window = 3;
    const seen: number[] = [];
    const held: Delivery[] = [];
    let unacked = 0;
    let maxUnacked = 0;
    const subscription = client.read$(vchannel, { window }).subscribe((delivery) => {
      unacked++;
      maxUnacked = Math.max(maxUnacked, unacked);
      const seq = seqOf(delivery.message);
      if (seq !== undefined) seen.push(seq);
      held.push(delivery);
      // Acks come only once the window is full, and a turn of the event loop later: a view that did not
      // wait for them would have handed over everything already read from the stream by then.
      if (held.length === window) {
        setImmediate(() => {
          for (const d of held.splice(0)) {
            unacked--;
            d.ack();
          }
        });
      }
    });
    try {
      await waitFor(() => seen.length === 24, 'all 24 notes');
    } finally {
      subscription.unsubscribe();
    }
    expect(maxUnacked).toBe(window);
    expect(seen).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });

  test('a drain of the owner mid-read: the view resumes on the new owner with no gap and no duplicate', async () => {
    const { cluster, client } = await start('rdm', 2);
    const vchannel = vchannelName('rdm', 'v');
    await client.createVChannel(vchannel);
    for (let seq = 0; seq < 20; seq++) await client.append(note(vchannel, seq));
    const seen: number[] = [];
    const subscription = client.read$(vchannel, { window: 4 }).subscribe((delivery) => {
      const seq = seqOf(delivery.message);
      if (seq !== undefined) seen.push(seq);
      queueMicrotask(() => delivery.ack());
    });
    try {
      await waitFor(() => seen.length >= 10, 'the first notes');
      const owner = cluster.ownerOf('rdm');
      await cluster.coordinator.balancer.drain(String(owner.node.nodeId), AbortSignal.timeout(20_000));
      for (let seq = 20; seq < 40; seq++) await client.append(note(vchannel, seq));
      await waitFor(() => seen.length >= 40, 'all 40 notes');
    } finally {
      subscription.unsubscribe();
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(retried.some((e) => e.component === 'client.consumer')).toBe(true);
  }, 30_000);

  test('the client closing ends the view with CLOSED; a bad window is INVALID_ARGUMENT', async () => {
    const { client } = await start('rdx', 1);
    const vchannel = vchannelName('rdx', 'v');
    await client.createVChannel(vchannel);
    await client.append(note(vchannel, 1));
    const error = new Promise<unknown>((resolve) => {
      client.read$(vchannel).subscribe({
        next: (d) => {
          if (seqOf(d.message) === 1) void client.close();
          d.ack();
        },
        error: resolve,
        complete: () => resolve('completed'),
      });
    });
    expect(WalError.is(await error) && ((await error) as WalError).code, String(await error)).toBe('CLOSED');
    let invalid: unknown;
    try {
      client.read$(vchannel, { window: 0 });
    } catch (e) {
      invalid = e;
    }
    expect(WalError.is(invalid) && invalid.code).toBe('INVALID_ARGUMENT');
  });
});
