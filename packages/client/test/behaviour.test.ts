/**
 * One behaviour, two services: the same checks against a remote service (a coordinator and two
 * StreamingNodes on loopback gRPC, started by the test) and against the client's embedded mode (which
 * starts the same parts itself, behind `createClient({ embedded })`).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exclusiveResourceKey,
  hasCode,
  type ImmutableMessage,
  ImmutableTxnMessage,
  MemoryCatalog,
  newMessage,
  ResourceDomain,
  SystemMessageType,
  vchannelName,
  type WalError,
} from '@walstream/core';
import { afterEach, describe, expect, test } from 'vitest';
import { type Client, createClient } from '../src/index.js';
import { Cluster, Note, note, seqOf, waitFor } from './support/cluster.js';

const PCHANNELS = ['bha', 'bhb'];
const backoff = { initialMs: 10, maxMs: 200 };

interface Service {
  readonly client: Client;
  close(): Promise<void>;
}

const services: Record<string, () => Promise<Service>> = {
  remote: async () => {
    const cluster = await Cluster.start(PCHANNELS, 2);
    // The second node may have joined while the first assignments were in flight (not movable then).
    await cluster.coordinator.balancer.trigger();
    await cluster.coordinator.balancer.idle(AbortSignal.timeout(20_000));
    const client = createClient({ coord: cluster.server.address, backoff });
    return {
      client,
      close: async () => {
        await client.close();
        await cluster.close();
      },
    };
  },
  embedded: async () => {
    const client = await createClient({
      embedded: { pchannels: PCHANNELS, memory: true, nodes: 2 },
      backoff,
    });
    return { client, close: () => client.close() };
  },
};

let service: Service | undefined;
afterEach(async () => {
  await service?.close();
  service = undefined;
});

/** Reads `vchannel` from the start until `done` holds for what was read (bounded). */
async function readUntil(
  client: Client,
  vchannel: string,
  done: (read: ImmutableMessage[]) => boolean,
): Promise<ImmutableMessage[]> {
  const read: ImmutableMessage[] = [];
  for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(15_000) })) {
    if (message.messageType === SystemMessageType.TimeTick) continue;
    read.push(message);
    if (done(read)) break;
  }
  return read;
}

/** Whether a TCP connection to `address` is accepted. */
function accepts(address: string): Promise<boolean> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The test notes of a txn message (its bodies), or of a plain note. */
function seqs(message: ImmutableMessage): number[] {
  if (message instanceof ImmutableTxnMessage) return message.bodies.map((b) => seqOf(b) ?? -1);
  const seq = seqOf(message);
  return seq === undefined ? [] : [seq];
}

describe.each(Object.keys(services))('%s service', (kind) => {
  test('createVChannel, append and read, dropVChannel: later appends fail VCHANNEL_DROPPED, not retriable', async () => {
    service = await services[kind]!();
    const { client } = service;
    const vchannel = vchannelName('bha', 'life');
    await client.createVChannel(vchannel);
    const acked = await client.append(note(vchannel, 1));
    const read = await readUntil(client, vchannel, (r) => r.some((m) => seqOf(m) === 1));
    expect(read.find((m) => seqOf(m) === 1)?.timeTick).toBe(acked.timeTick);
    await client.dropVChannel(vchannel);
    const error = await client.append(note(vchannel, 2)).catch((e: unknown) => e);
    expect(hasCode(error, 'VCHANNEL_DROPPED'), String(error)).toBe(true);
    expect((error as WalError).retriable).toBe(false);
    expect((error as WalError).details.written).toBe(false);
  });

  test('a committed txn is read as one unit at its commit timetick, after a note appended while it was open; a rolled-back one is never read', async () => {
    service = await services[kind]!();
    const { client } = service;
    const vchannel = vchannelName('bhb', 'txn');
    await client.createVChannel(vchannel);
    const dropped = await client.txn(vchannel, { keepaliveMs: 10_000 });
    await dropped.append(note(vchannel, 100));
    await dropped.rollback();
    expect(dropped.state).toBe('rolled-back');

    const txn = await client.txn(vchannel);
    await Promise.all([1, 2, 3].map((seq) => txn.append(note(vchannel, seq))));
    // Appended while the txn is open, acknowledged before its commit: read before the txn.
    await client.append(note(vchannel, 10));
    const committed = await txn.commit();
    expect(txn.state).toBe('committed');
    await client.append(note(vchannel, 11));
    const read = (await readUntil(client, vchannel, (r) => r.some((m) => seqOf(m) === 11))).filter(
      (m) => seqs(m).length > 0,
    );
    expect(read.map(seqs)).toEqual([[10], [1, 2, 3], [11]]);
    const unit = read[1] as ImmutableTxnMessage;
    expect(unit).toBeInstanceOf(ImmutableTxnMessage);
    expect(unit.timeTick).toBe(committed.timeTick);
    expect(unit.txnContext?.txnId).toBe(txn.context.txnId);
    // A finished txn takes nothing more.
    const late = await txn.append(note(vchannel, 4)).catch((e: unknown) => e);
    expect(hasCode(late, 'INVALID_TRANSACTION_STATE'), String(late)).toBe(true);
  });

  test('a broadcast lands once on each vchannel, on both nodes, at the results it returned', async () => {
    service = await services[kind]!();
    const { client } = service;
    const vchannels = [vchannelName('bha', 'all'), vchannelName('bhb', 'all')];
    for (const vchannel of vchannels) await client.createVChannel(vchannel);
    // The two pchannels live on two nodes.
    await waitFor(() => {
      const channels = client.assignment?.channels;
      const a = channels?.get('bha')?.nodeId;
      const b = channels?.get('bhb')?.nodeId;
      return a !== undefined && b !== undefined && a !== b;
    }, 'bha and bhb on two nodes');
    const message = newMessage(Note)
      .broadcast(['unused_v0'])
      .property('seq', '7')
      .body(new Uint8Array([7]))
      .build();
    const result = await client.broadcast(message, { vchannels });
    expect([...result.results.keys()].sort()).toEqual([...vchannels].sort());
    expect(result.broadcastId > 0n).toBe(true);
    for (const vchannel of vchannels) {
      const read = await readUntil(client, vchannel, (r) => r.some((m) => seqOf(m) === 7));
      const copies = read.filter((m) => seqOf(m) === 7);
      expect(copies).toHaveLength(1);
      expect(copies[0]?.broadcastHeader?.broadcastId).toBe(result.broadcastId);
      expect(copies[0]?.timeTick).toBe(result.results.get(vchannel)?.timeTick);
    }
  });

  test('broadcasts holding the same exclusive key run one after another, in the order of their ids; bad broadcast input is INVALID_ARGUMENT', async () => {
    service = await services[kind]!();
    const { client } = service;
    const vchannels = [vchannelName('bha', 'keys'), vchannelName('bhb', 'keys')];
    for (const vchannel of vchannels) await client.createVChannel(vchannel);
    const key = exclusiveResourceKey(ResourceDomain.CollectionName, 'keys');
    const results = await Promise.all(
      [21, 22, 23].map((seq) =>
        client.broadcast(newMessage(Note).broadcast(vchannels).property('seq', String(seq)).build(), {
          vchannels,
          resourceKeys: [key],
        }),
      ),
    );
    // Per vchannel, the copies land in the order the broadcasts got their ids (the order they held the key).
    const byId = [...results].sort((a, b) => (a.broadcastId < b.broadcastId ? -1 : 1));
    for (const vchannel of vchannels) {
      const ticks = byId.map((r) => r.results.get(vchannel)!.timeTick);
      expect([...ticks].sort((a, b) => (a < b ? -1 : 1))).toEqual(ticks);
    }
    const bare = newMessage(Note).vchannel(vchannels[0]!).build();
    for (const [message, options, option] of [
      [bare, {}, 'vchannels'],
      [bare, { resourceKeys: [key] }, 'resourceKeys'],
      [bare, { vchannels: [] }, 'vchannels'],
    ] as const) {
      const error = await client.broadcast(message, options).catch((e: unknown) => e);
      expect(hasCode(error, 'INVALID_ARGUMENT'), String(error)).toBe(true);
      expect((error as WalError).details.option).toBe(option);
    }
  });
});

describe('embedded mode', () => {
  test('bad embedded options are INVALID_ARGUMENT, not retriable, naming the option', async () => {
    const cases: [unknown, string][] = [
      [{ pchannels: [] }, 'embedded.pchannels'],
      [{ pchannels: ['a'] }, 'embedded.dataDir'],
      [{ pchannels: ['a'], memory: true, dataDir: '/tmp/x' }, 'embedded.dataDir'],
      [{ pchannels: ['a'], memory: true, nodes: 0 }, 'embedded.nodes'],
      [{ pchannels: ['a'], memory: true, typo: 1 }, 'embedded.typo'],
    ];
    for (const [embedded, option] of cases) {
      const error = await createClient({ embedded } as Parameters<typeof createClient>[0] & {
        embedded: never;
      }).catch((e: unknown) => e);
      expect(hasCode(error, 'INVALID_ARGUMENT'), `${JSON.stringify(embedded)}: ${String(error)}`).toBe(true);
      expect((error as WalError).retriable).toBe(false);
      expect(String((error as WalError).details.option ?? (error as WalError).message)).toContain(option);
    }
  });

  test("dataDir: a second run on the same directory, with the first run's catalog, reads what the first appended and appends after it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'walstream-client-embedded-'));
    try {
      const catalog = new MemoryCatalog();
      const vchannel = vchannelName('bhd', 'v');
      const first = await createClient({ embedded: { pchannels: ['bhd'], dataDir, catalog }, backoff });
      await first.createVChannel(vchannel);
      const before = await first.append(note(vchannel, 1));
      const termBefore = first.assignment?.channels.get('bhd')?.pchannel.term ?? 0n;
      await first.close();
      const second = await createClient({ embedded: { pchannels: ['bhd'], dataDir, catalog }, backoff });
      try {
        const after = await second.append(note(vchannel, 2));
        expect(after.timeTick > before.timeTick).toBe(true);
        expect(second.assignment?.channels.get('bhd')?.pchannel.term ?? 0n).toBeGreaterThan(termBefore);
        const read = await readUntil(second, vchannel, (r) => r.some((m) => seqOf(m) === 2));
        expect(read.flatMap(seqs)).toEqual([1, 2]);
        expect(read[0]?.id.marshal()).toBeDefined();
        expect(read.find((m) => seqOf(m) === 1)?.timeTick).toBe(before.timeTick);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('close() stops the service it started: its node no longer accepts connections', async () => {
    const client = await createClient({ embedded: { pchannels: ['bhc'], memory: true }, backoff });
    await client.createVChannel(vchannelName('bhc', 'x'));
    const address = client.assignment?.channels.get('bhc')?.address as string;
    expect(await accepts(address)).toBe(true);
    await client.close();
    expect(await accepts(address)).toBe(false);
  });
});
