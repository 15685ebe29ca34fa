/**
 * A deployment started with the CLI — `walstream coord` and three `walstream node` processes on a real
 * etcd (started here) and the run's Kafka broker, session TTL 2 s — and an idempotent `@walstream/client`
 * producer and reader in this process while the node owning the producer's pchannel is SIGKILLed. The
 * long version (unavailability p50/p99 over ≥ 20 kills) is `pnpm campaign:client-failover`.
 */
import '@walstream/adapter-kafka';
import { type Client, createClient } from '@walstream/client';
import { DeliverPolicy, type ImmutableMessage, messageIdEquals, vchannelName } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { connectRpc, type WireAppendResult } from '@walstream/rpc';
import { waitFor } from '@walstream/testkit';
import { type EtcdServer, freePort, startEtcd } from '@walstream/testkit/etcd';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { AckProxy } from '../../../client/test/support/ack-proxy.js';
import { note, seqOf } from '../../../client/test/support/cluster.js';
import { WireConsumer } from '../../../node/test/support/wire.js';
import { CliCluster } from '../support/cli-cluster.js';

let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcd();
}, 120_000);
afterAll(async () => {
  await etcd?.stop();
});
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function cluster(name: string): CliCluster {
  const c = new CliCluster(etcd.endpoints[0] as string, inject('kafkaBootstrap'), `${name}-${process.pid}/`);
  cleanup.push(() => c.close());
  return c;
}

/** One producer appending notes 0, 1, 2… one at a time until stopped; what each got back. */
function producer(client: Client, vchannel: string) {
  const acked = new Map<number, WireAppendResult>();
  const failures: unknown[] = [];
  let stopping = false;
  const running = (async () => {
    for (let seq = 0; !stopping; seq++) {
      try {
        acked.set(seq, await client.append(note(vchannel, seq)));
      } catch (error) {
        failures.push(error);
        return;
      }
    }
  })();
  return {
    acked,
    failures,
    stop: async () => {
      stopping = true;
      await running;
    },
  };
}

/** The notes of `vchannel` from its start, read through the client until `count` of them arrived. */
async function readNotes(client: Client, vchannel: string, count: number) {
  const notes: ImmutableMessage[] = [];
  if (count === 0) return notes;
  for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(30_000) })) {
    if (seqOf(message) !== undefined) notes.push(message);
    if (notes.length >= count) break;
  }
  return notes;
}

/** Every acknowledged append in `notes` once, at the id and timetick it was acknowledged with, in order. */
function expectExactlyOnce(notes: readonly ImmutableMessage[], acked: ReadonlyMap<number, WireAppendResult>) {
  expect(notes.map(seqOf), 'each acknowledged note once, in the order appended').toEqual(
    [...acked.keys()].sort((a, b) => a - b),
  );
  for (let i = 1; i < notes.length; i++) {
    expect(notes[i]!.timeTick > notes[i - 1]!.timeTick, `timetick of ${seqOf(notes[i]!)} rises`).toBe(true);
  }
  for (const message of notes) {
    const result = acked.get(seqOf(message)!)!;
    expect(messageIdEquals(result.messageId, message.id), `${seqOf(message)} at its acknowledged id`).toBe(
      true,
    );
    expect(result.timeTick).toBe(message.timeTick);
  }
}

describe('a CLI deployment on etcd and Kafka, its node SIGKILLed under a client', () => {
  test('the owner of the producer pchannel SIGKILLed: the producer goes on; the reader, following it, gets every acknowledged append once, no gap, in timetick order', async () => {
    const c = cluster('ck1');
    const coordinator = await c.coordinator(['ck1a', 'ck1b']);
    await Promise.all([c.node(), c.node(), c.node()]);
    const client = createClient({
      coord: coordinator.address,
      idempotent: true,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    cleanup.push(() => client.close());
    const vchannel = vchannelName('ck1a', 'v0');
    await client.append(createVChannel(vchannel));

    const seen: ImmutableMessage[] = [];
    const reader = { done: false, want: Number.POSITIVE_INFINITY };
    const reading = (async () => {
      for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(80_000) })) {
        if (seqOf(message) !== undefined) seen.push(message);
        if (reader.done && seen.length >= reader.want) return;
      }
    })();
    const load = producer(client, vchannel);
    await waitFor(() => load.acked.size >= 100 && seen.length >= 50, '100 appends acknowledged, 50 read');

    const owner = client.assignment?.channels.get('ck1a');
    expect(owner).toBeDefined();
    const ackedAtKill = load.acked.size;
    await c.kill(c.nodeById(owner!.nodeId));
    await waitFor(
      () => load.acked.size >= ackedAtKill + 100 || load.failures.length > 0,
      '100 more appends acknowledged after the kill',
      30_000,
    );
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(client.assignment?.channels.get('ck1a')?.nodeId).not.toBe(owner!.nodeId);
    expect(client.assignment?.channels.get('ck1a')?.pchannel.term).toBeGreaterThan(owner!.pchannel.term);
    reader.want = load.acked.size;
    reader.done = true;
    await waitFor(() => seen.length >= load.acked.size, 'the reader caught up', 30_000);
    await reading;

    expectExactlyOnce(seen, load.acked);
    // And a fresh read from the start, on the new owner, finds the same log.
    expectExactlyOnce(await readNotes(client, vchannel, load.acked.size), load.acked);
  });

  test('an idempotent append written, its acknowledgement lost, its owner SIGKILLed: the retry on the new owner lands nothing more; every acknowledged append in the log once', async () => {
    const c = cluster('ck2');
    // The first node serves behind a proxy that can drop its answers; it advertises the proxy, so the
    // coordinator and the client reach it through it. It is alone when the coordinator starts: it owns ck2a.
    const port = await freePort();
    const proxy = await AckProxy.start(`127.0.0.1:${port}`);
    cleanup.push(() => proxy.close());
    const proxied = await c.node({ listen: `127.0.0.1:${port}`, advertise: proxy.address });
    const coordinator = await c.coordinator(['ck2a']);
    const client = createClient({
      coord: coordinator.address,
      idempotent: true,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    cleanup.push(() => client.close());
    const vchannel = vchannelName('ck2a', 'v0');
    await client.append(createVChannel(vchannel));
    const owner = client.assignment?.channels.get('ck2a');
    expect(owner?.nodeId).toBe(BigInt(proxied.nodeId));
    await Promise.all([c.node(), c.node()]);

    // A reader straight at the node (not through the proxy) sees what lands in its log.
    const direct = connectRpc(proxied.address);
    cleanup.push(() => direct.close());
    const landed = await WireConsumer.open(
      direct,
      'ck2a',
      owner!.pchannel.term,
      vchannel,
      DeliverPolicy.all(),
    );
    cleanup.push(() => landed.cancel());

    const load = producer(client, vchannel);
    await waitFor(() => load.acked.size >= 50, '50 appends acknowledged');
    proxy.hold();
    const ackedAtHold = load.acked.size;
    // The append in flight lands; its answer does not come back (the producer waits on it).
    await waitFor(() => landed.userCount > load.acked.size, 'an append landed with its answer lost');
    expect(landed.userCount, 'one append landed without an answer').toBe(load.acked.size + 1);
    await c.kill(proxied);
    proxy.cut();
    await waitFor(
      () => load.acked.size >= ackedAtHold + 50 || load.failures.length > 0,
      '50 more appends acknowledged by the new owner',
      30_000,
    );
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(client.assignment?.channels.get('ck2a')?.nodeId).not.toBe(owner!.nodeId);

    // The producer sends one append at a time, so a duplicate of the unanswered append would sit before
    // the next note in the log and show among the first acked.size notes.
    expectExactlyOnce(await readNotes(client, vchannel, load.acked.size), load.acked);
  });
});
