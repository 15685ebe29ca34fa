import {
  hasCode,
  MemoryCatalog,
  type PChannelInfo,
  vchannelName,
  WalError,
  type WalOpener,
} from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { afterEach, describe, expect, test } from 'vitest';
import type { NodeManagerClient, NodeStatusReport } from '../src/index.js';
import { type InProcessNode, type Layout, vchannelFairPolicy } from '../src/index.js';
import { GatedAssign, names, TestCluster, until, within } from './support/cluster.js';

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.close();
});

let appends = 0;
/** One acknowledged append on `pchannel`'s current owner. */
async function appendOn(pchannel: string): Promise<void> {
  await cluster.ownerWal(pchannel).append(createVChannel(vchannelName(pchannel, `t${appends++}`)));
}

function countsByNode(layout: Layout): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of layout.assignments) counts[a.nodeId] = (counts[a.nodeId] ?? 0) + 1;
  return counts;
}

describe('Balancer with in-process nodes on the WAL stack', () => {
  test('assigns every pchannel of a new catalog at term 1, spread evenly, each writable on its owner', async () => {
    cluster = new TestCluster();
    for (let i = 0; i < 3; i++) await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(8));
    await balancer.idle(within());
    expect(balancer.layout.assignments.map((a) => a.pchannel.term)).toEqual(new Array(8).fill(1n));
    expect(Object.values(countsByNode(balancer.layout)).sort()).toEqual([2, 3, 3]);
    for (const name of names(8)) await appendOn(name);
    expect(cluster.moves.filter((m) => m.outcome === 'done').every((m) => m.reason === 'unassigned')).toBe(
      true,
    );
  });

  test("a lost node's pchannels open elsewhere at term + 1, and its WALs, still open, are fenced", async () => {
    cluster = new TestCluster();
    for (let i = 0; i < 3; i++) await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(9));
    await balancer.idle(within());
    const lost = cluster.nodes[0] as InProcessNode;
    const held = balancer.layout.assignments
      .filter((a) => a.nodeId === lost.nodeId)
      .map((a) => a.pchannel.name);
    expect(held.length).toBe(3);
    const zombies = held.map((name) => lost.wal(name));
    lost.leaveSession();
    await balancer.idle(within());
    for (const name of held) {
      expect(cluster.ownerOf(name)).not.toBe(lost.nodeId);
      expect(cluster.termOf(name)).toBe(2n);
      await appendOn(name);
    }
    for (const [i, wal] of zombies.entries()) {
      const error = await wal
        .append(createVChannel(vchannelName(held[i] as string, 'zombie')))
        .catch((e: unknown) => e);
      expect(hasCode(error, 'CHANNEL_FENCED'), String(error)).toBe(true);
    }
    const reasons = cluster.moves
      .filter((m) => held.includes(m.pchannel) && m.outcome === 'done')
      .map((m) => m.reason);
    expect(reasons).toEqual([
      'unassigned',
      'unassigned',
      'unassigned',
      'node-lost',
      'node-lost',
      'node-lost',
    ]);
  });

  test('64 pchannels over 4 nodes and a fifth that joins: one pass, no pchannel moved twice, only onto the new node', async () => {
    cluster = new TestCluster();
    for (let i = 0; i < 4; i++) await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(64), { policy: vchannelFairPolicy() });
    await balancer.idle(within(20_000));
    expect(Object.values(countsByNode(balancer.layout))).toEqual([16, 16, 16, 16]);
    const before = new Map(balancer.layout.assignments.map((a) => [a.pchannel.name, a.nodeId]));
    const from = cluster.moves.length;
    const joined = await cluster.addNode();
    await balancer.idle(within(20_000));
    const started = cluster.moves.slice(from).filter((m) => m.outcome === 'started');
    const perChannel = new Map<string, number>();
    for (const m of started) perChannel.set(m.pchannel, (perChannel.get(m.pchannel) ?? 0) + 1);
    expect([...perChannel.values()].every((n) => n === 1)).toBe(true);
    expect(started.every((m) => m.to === joined.nodeId && m.reason === 'rebalance')).toBe(true);
    expect(started.length).toBe(12);
    const counts = countsByNode(balancer.layout);
    expect(counts[joined.nodeId]).toBe(12);
    const moved = balancer.layout.assignments.filter((a) => before.get(a.pchannel.name) !== a.nodeId);
    expect(moved.map((a) => a.pchannel.term)).toEqual(new Array(12).fill(2n));
    for (const a of moved) await appendOn(a.pchannel.name);
  }, 60_000);

  test('with the vchannels of each pchannel, vchannelFair puts the shards of one collection on different nodes', async () => {
    cluster = new TestCluster();
    await cluster.addNode();
    await cluster.addNode();
    // Without collections the policy would deal pch00 and pch02 to one node, pch01 and pch03 to the other.
    const collection = (p: string) => (p === 'pch00' || p === 'pch02' ? 'orders' : 'users');
    const balancer = await cluster.startCoordinator(names(4), {
      policy: vchannelFairPolicy(),
      vchannels: (p) => [{ name: vchannelName(p, 'x'), collection: collection(p) }],
    });
    await balancer.idle(within());
    expect(cluster.ownerOf('pch00')).not.toBe(cluster.ownerOf('pch02'));
    expect(cluster.ownerOf('pch01')).not.toBe(cluster.ownerOf('pch03'));
  });

  test('a node whose removes hang holds up only its own pchannels: a lost node’s pchannels move meanwhile', async () => {
    cluster = new TestCluster();
    const stuck = new StallingRemoves(await cluster.addNode({ join: false }));
    const stuckId = cluster.sessions.join(stuck).nodeId;
    const healthy = await cluster.addNode();
    const lost = await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(6), { operationTimeoutMs: 300 });
    await balancer.idle(within());
    const onStuck = balancer.layout.assignments
      .filter((a) => a.nodeId === stuckId)
      .map((a) => a.pchannel.name);
    const onLost = balancer.layout.assignments
      .filter((a) => a.nodeId === lost.nodeId)
      .map((a) => a.pchannel.name);
    expect(onStuck.length).toBe(2);
    stuck.stall = true;
    void balancer.drain(stuckId);
    await until(() => onStuck.every((name) => cluster.channels.get(name).state === 'assigning'));
    lost.leaveSession();
    await until(() =>
      onLost.every(
        (name) => cluster.channels.get(name).state === 'assigned' && cluster.ownerOf(name) === healthy.nodeId,
      ),
    );
    // The drained pchannels are still waiting for their old owner to let go.
    expect(onStuck.map((name) => cluster.channels.get(name).state)).toEqual(['assigning', 'assigning']);
    // …and retry, each on its own, once the remove times out.
    await until(() =>
      onStuck.every((name) =>
        cluster.moves.some(
          (m) => m.pchannel === name && m.outcome === 'retrying' && m.error?.code === 'TIMEOUT',
        ),
      ),
    );
    stuck.stall = false;
    await balancer.idle(within());
    for (const name of [...onStuck, ...onLost]) {
      expect(cluster.ownerOf(name)).toBe(healthy.nodeId);
      await appendOn(name);
    }
  });

  test('drain closes each pchannel on the node before it opens elsewhere, and resolves when the node holds none', async () => {
    cluster = new TestCluster();
    const drained = await cluster.addNode();
    const takers: GatedAssign[] = [];
    for (let i = 0; i < 2; i++) {
      await cluster.addNode({
        wrap: (node) => {
          const gated = new GatedAssign(node);
          takers.push(gated);
          return gated;
        },
      });
    }
    const balancer = await cluster.startCoordinator(names(12));
    await balancer.idle(within());
    const held = balancer.layout.assignments
      .filter((a) => a.nodeId === drained.nodeId)
      .map((a) => a.pchannel.name);
    expect(held.length).toBe(4);
    // The nodes that take over hold their Assign calls: the drain must wait for them, not just decide.
    const before = takers.map((t) => t.assigns);
    for (const taker of takers) taker.hold();
    let drainDone = false;
    const drain = balancer.drain(drained.nodeId, within()).then(() => {
      drainDone = true;
    });
    await until(() => takers.reduce((sum, t, i) => sum + t.assigns - (before[i] ?? 0), 0) >= 4);
    expect(drainDone).toBe(false);
    for (const taker of takers) taker.release();
    await drain;
    // Resolved only once every pchannel it held is ASSIGNED elsewhere.
    expect(held.map((name) => cluster.channels.get(name).state)).toEqual([
      'assigned',
      'assigned',
      'assigned',
      'assigned',
    ]);
    expect(cluster.moves.filter((m) => m.outcome === 'done' && m.reason === 'drain').length).toBe(4);
    await balancer.idle(within());
    for (const name of held) {
      expect(() => drained.wal(name)).toThrow(/does not serve/);
      expect(cluster.ownerOf(name)).not.toBe(drained.nodeId);
      await appendOn(name);
    }
    expect(cluster.moves.filter((m) => m.outcome === 'done' && m.reason === 'drain').length).toBe(4);
    expect(Object.values(countsByNode(balancer.layout)).sort()).toEqual([6, 6]);
  });

  test('a frozen node keeps its pchannels and takes none of a lost node’s', async () => {
    cluster = new TestCluster();
    const frozen = await cluster.addNode();
    const other = await cluster.addNode();
    const lost = await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(6));
    await balancer.idle(within());
    const kept = balancer.layout.assignments
      .filter((a) => a.nodeId === frozen.nodeId)
      .map((a) => a.pchannel.name);
    await balancer.freeze(frozen.nodeId);
    lost.leaveSession();
    await balancer.idle(within());
    expect(countsByNode(balancer.layout)).toEqual({ [frozen.nodeId]: 2, [other.nodeId]: 4 });
    expect(kept.every((name) => cluster.ownerOf(name) === frozen.nodeId)).toBe(true);
  });

  test('suspended rebalancing keeps a joined node empty until resumed; undrain and unfreeze let a node take pchannels again', async () => {
    cluster = new TestCluster();
    const a = await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(4));
    await balancer.idle(within());
    await balancer.setRebalance(false);
    const b = await cluster.addNode();
    await balancer.trigger();
    await balancer.idle(within());
    expect(countsByNode(balancer.layout)).toEqual({ [a.nodeId]: 4 });
    await balancer.setRebalance(true);
    await balancer.idle(within());
    expect(countsByNode(balancer.layout)).toEqual({ [a.nodeId]: 2, [b.nodeId]: 2 });
    await balancer.drain(b.nodeId, within());
    expect(countsByNode(balancer.layout)).toEqual({ [a.nodeId]: 4 });
    await balancer.undrain(b.nodeId);
    await balancer.idle(within());
    expect(countsByNode(balancer.layout)).toEqual({ [a.nodeId]: 2, [b.nodeId]: 2 });
    await balancer.freeze(a.nodeId);
    const c = await cluster.addNode();
    await balancer.idle(within());
    // Frozen a keeps its two; c takes one of b's.
    expect(countsByNode(balancer.layout)).toEqual({ [a.nodeId]: 2, [b.nodeId]: 1, [c.nodeId]: 1 });
    await balancer.unfreeze(a.nodeId);
    await balancer.idle(within());
    expect(Object.values(countsByNode(balancer.layout)).sort()).toEqual([1, 1, 2]);
  });

  test('a reported error reassigns the pchannel at a new term; a report of an old term is ignored', async () => {
    cluster = new TestCluster();
    await cluster.addNode();
    await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(2));
    await balancer.idle(within());
    await balancer.reportError('pch00', 0n);
    expect(cluster.channels.get('pch00').state).toBe('assigned');
    await balancer.reportError('pch00', 1n);
    await balancer.idle(within());
    expect(cluster.termOf('pch00')).toBe(2n);
    expect(cluster.termOf('pch01')).toBe(1n);
    await appendOn('pch00');
    expect(
      cluster.moves.some(
        (m) => m.pchannel === 'pch00' && m.reason === 'report-error' && m.outcome === 'done',
      ),
    ).toBe(true);
  });

  test('a pchannel its node no longer serves (restarted, or the WAL failed) opens again at a new term at the next timer round', async () => {
    cluster = new TestCluster();
    const node = await cluster.addNode();
    // No event tells the coordinator: the timer's round finds it.
    const balancer = await cluster.startCoordinator(names(2), { triggerIntervalMs: 50 });
    await balancer.idle(within());
    // Behind the coordinator's back, as a node that restarted with the same id would be.
    await node.remove(cluster.channels.get('pch00').channel);
    await until(() => cluster.termOf('pch00') === 2n);
    await balancer.idle(within());
    expect(cluster.termOf('pch00')).toBe(2n);
    expect(cluster.termOf('pch01')).toBe(1n);
    await appendOn('pch00');
    expect(cluster.moves.findLast((m) => m.pchannel === 'pch00')).toMatchObject({
      reason: 'wal-lost',
      outcome: 'done',
    });
  });

  test('a failed open is retried at a new term, on the same node when the policy keeps it there', async () => {
    cluster = new TestCluster();
    const node = await cluster.addNode();
    let failures = 1;
    const opener = cluster.openers[0] as WalOpener;
    const open = opener.open.bind(opener);
    // The node's stack fails its first open (a store that refused it), then works.
    opener.open = async (options) => {
      if (failures-- > 0) throw new WalError('UNAVAILABLE', 'injected open failure');
      return open(options);
    };
    const balancer = await cluster.startCoordinator(names(1));
    await balancer.idle(within());
    expect(cluster.ownerOf('pch00')).toBe(node.nodeId);
    expect(cluster.termOf('pch00')).toBe(2n);
    expect(cluster.moves.some((m) => m.outcome === 'retrying' && m.error?.details.openFailed === true)).toBe(
      true,
    );
    await appendOn('pch00');
  });

  test('a move whose catalog save another coordinator fenced stops instead of retrying', async () => {
    cluster = new TestCluster(new FencingCatalog());
    await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(1));
    await until(() => cluster.moves.some((m) => m.outcome === 'superseded'));
    const last = cluster.moves.at(-1);
    expect(last).toMatchObject({
      pchannel: 'pch00',
      outcome: 'superseded',
      error: { code: 'CHANNEL_FENCED' },
    });
    expect(cluster.moves.filter((m) => m.outcome === 'retrying')).toEqual([]);
    expect(cluster.channels.get('pch00').state).toBe('uninitialized');
    await balancer.close();
  });

  test('a restarted coordinator finishes a move it had saved as ASSIGNING and keeps every other term', async () => {
    cluster = new TestCluster();
    await cluster.addNode();
    await cluster.addNode();
    const first = await cluster.startCoordinator(names(4));
    await first.idle(within());
    await first.close();
    // What a coordinator that died right after saving a move leaves in the catalog.
    const target =
      cluster.ownerOf('pch00') === cluster.nodes[0]?.nodeId ? cluster.nodes[1] : cluster.nodes[0];
    await cluster.channels.assign('pch00', (target as InProcessNode).nodeId);
    // Balance moves held off: the resumed move is what this test watches.
    const second = await cluster.startCoordinator(names(4), { minMoveIntervalMs: 3_600_000 });
    await second.idle(within());
    expect(cluster.ownerOf('pch00')).toBe(target?.nodeId);
    expect(names(4).map((n) => cluster.termOf(n))).toEqual([2n, 1n, 1n, 1n]);
    await appendOn('pch00');
    expect(cluster.moves.findLast((m) => m.pchannel === 'pch00' && m.outcome === 'done')?.reason).toBe(
      'resume',
    );
  });

  test('within the minimum interval a joined node gets no pchannel, but a lost node’s pchannels still move', async () => {
    cluster = new TestCluster();
    await cluster.addNode();
    const lost = await cluster.addNode();
    // Placed by an earlier coordinator: a restarted one holds them in place for the interval (a first
    // placement alone does not; see balancer-joins.test.ts).
    const earlier = await cluster.startCoordinator(names(4));
    await earlier.idle(within());
    await earlier.close();
    const balancer = await cluster.startCoordinator(names(4), { minMoveIntervalMs: 3_600_000 });
    await balancer.idle(within());
    const joined = await cluster.addNode();
    await balancer.trigger();
    await balancer.idle(within());
    expect(countsByNode(balancer.layout)[joined.nodeId]).toBeUndefined();
    lost.leaveSession();
    await balancer.idle(within());
    expect(balancer.layout.assignments.every((a) => a.nodeId !== lost.nodeId)).toBe(true);
  });

  test('layout$ versions rise with every change and nodes$ follows joins and stops', async () => {
    cluster = new TestCluster();
    const a = await cluster.addNode();
    const balancer = await cluster.startCoordinator(names(2));
    const versions: bigint[] = [];
    balancer.layout$.subscribe((l) => versions.push(l.version.local));
    const seen: string[][] = [];
    balancer.nodes$.subscribe((nodes) =>
      seen.push(nodes.map((n) => `${n.nodeId}${n.stopping ? ' stopping' : ''}`)),
    );
    await balancer.idle(within());
    const b = await cluster.addNode();
    a.markStopping();
    await balancer.idle(within());
    expect(balancer.layout.assignments.every((x) => x.nodeId === b.nodeId)).toBe(true);
    for (let i = 1; i < versions.length; i++) expect(versions[i]! > versions[i - 1]!).toBe(true);
    expect(seen).toContainEqual([a.nodeId]);
    expect(seen).toContainEqual([a.nodeId, b.nodeId]);
    expect(seen).toContainEqual([`${a.nodeId} stopping`, b.nodeId]);
  });
});

/** A catalog that refuses every pchannel save as etcd refuses a stale compare-and-swap. */
class FencingCatalog extends MemoryCatalog {
  override async savePChannels(): Promise<void> {
    throw new WalError('CHANNEL_FENCED', 'the pchannel changed since it was read', { retriable: false });
  }
}

/** A node whose remove() does not answer while `stall` is set (as a hung or partitioned node would). */
class StallingRemoves implements NodeManagerClient {
  stall = false;
  readonly #node: InProcessNode;
  constructor(node: InProcessNode) {
    this.#node = node;
  }
  assign(pchannel: PChannelInfo): Promise<void> {
    return this.#node.assign(pchannel);
  }
  async remove(pchannel: PChannelInfo, signal?: AbortSignal): Promise<void> {
    while (this.stall) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        signal?.addEventListener('abort', () => clearTimeout(t), { once: true });
      });
      if (signal?.aborted) throw signal.reason;
    }
    return this.#node.remove(pchannel);
  }
  collectStatus(): Promise<NodeStatusReport> {
    return this.#node.collectStatus();
  }
}
