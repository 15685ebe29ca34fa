/**
 * A node process dies under load: SIGKILL with appends in flight, then a new node at the next term on the
 * same directory (the local adapter: the memory adapter dies with its process).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliverFilter, DeliverPolicy, hasCode } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
// Registers the `local` MessageID codec, so results and messages of the node's local store decode here.
import '@walstream/adapter-local';
import { connectRpc } from '@walstream/rpc';
import { afterEach, describe, expect, it } from 'vitest';
import { userMessage } from './support/in-process.js';
import { type NodeChild, spawnNode } from './support/spawn-node.js';
import { assignReady, WireConsumer, WireProducer, waitFor } from './support/wire.js';

describe('a node process on the local adapter', () => {
  let directory: string;
  const nodes: NodeChild[] = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.kill();
    rmSync(directory, { recursive: true, force: true });
  });

  it('SIGKILLed with appends in flight: a new node at term + 1 recovers, a resumed consumer sees no gap and no duplicate', async () => {
    directory = mkdtempSync(join(tmpdir(), 'walstream-node-kill-'));
    const first = await spawnNode({ adapter: 'local', directory, nodeId: '21' });
    nodes.push(first);
    const rpcA = connectRpc(first.address);
    await assignReady(rpcA, 'crash', 1n);
    const producer = await WireProducer.open(rpcA, 'crash', 1n);
    await producer.append(createVChannel('crash_v0'));
    const consumerA = await WireConsumer.open(rpcA, 'crash', 1n, 'crash_v0', DeliverPolicy.all());
    const acked = new Set<number>();
    let seq = 0;
    // Keep 32 appends in flight until the node dies under them.
    const inFlight = new Set<Promise<unknown>>();
    const pump = (async () => {
      for (;;) {
        const n = seq++;
        let sent: Awaited<ReturnType<WireProducer['send']>>;
        try {
          sent = await producer.send(userMessage('crash_v0', n));
        } catch {
          return;
        }
        const settled = sent.result.then(
          () => acked.add(n),
          () => {},
        );
        inFlight.add(settled);
        void settled.then(() => inFlight.delete(settled));
        if (inFlight.size >= 32) await Promise.race(inFlight);
        if (producer.endError) return;
      }
    })();
    await waitFor(() => acked.size >= 300 && consumerA.seqs().length >= 100, '300 acked and 100 consumed');
    const inFlightAtKill = inFlight.size;
    await first.kill();
    await pump;
    expect(inFlightAtKill).toBeGreaterThan(0);
    await consumerA.ended;
    rpcA.close();
    expect(hasCode(producer.endError, 'UNAVAILABLE')).toBe(true);

    const second = await spawnNode({ adapter: 'local', directory, nodeId: '22' });
    nodes.push(second);
    const rpcB = connectRpc(second.address);
    await assignReady(rpcB, 'crash', 2n);
    const seenA = consumerA.received.map((d) => d.message);
    const last = seenA.at(-1)!;
    const consumerB = await WireConsumer.open(
      rpcB,
      'crash',
      2n,
      'crash_v0',
      DeliverPolicy.startFrom(last.lastConfirmedId),
      [DeliverFilter.timeTickGT(last.timeTick)],
    );
    const delivered = () => new Set([...consumerA.seqs(), ...consumerB.seqs()].map(Number));
    await waitFor(() => {
      const got = delivered();
      return [...acked].every((n) => got.has(n));
    }, 'every acknowledged append, after recovery');
    const all = [...consumerA.seqs(), ...consumerB.seqs()].map(Number);
    // No duplicate, in order.
    for (let i = 1; i < all.length; i++) expect(all[i]).toBeGreaterThan(all[i - 1]!);
    // No gap: every acknowledged append is there (appends in flight at the kill may or may not be).
    const got = delivered();
    expect([...acked].filter((n) => !got.has(n))).toEqual([]);
    await consumerB.close();
    rpcB.close();
    expect(await second.close()).toBe(0);
  });
});
