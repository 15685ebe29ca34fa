import { hasCode, MemoryCatalog, type PChannelMeta } from '@walstream/core';
import { describe, expect, test } from 'vitest';
import { ChannelManager } from '../src/index.js';

class FailingCatalog extends MemoryCatalog {
  failing = false;
  override async savePChannels(metas: readonly PChannelMeta[]): Promise<void> {
    if (this.failing) throw new Error('catalog unreachable');
    await super.savePChannels(metas);
  }
}

const open = (catalog: MemoryCatalog, incarnation = 1n) =>
  ChannelManager.recover({ catalog, pchannels: ['p0', 'p1'], incarnation });

describe('ChannelManager', () => {
  test('every move raises the term by one and keeps the previous owner in the history until done', async () => {
    const manager = await open(new MemoryCatalog());
    expect(manager.get('p0')).toMatchObject({ state: 'uninitialized', channel: { term: 0n }, history: [] });
    expect(await manager.assign('p0', 'n1')).toMatchObject({
      state: 'assigning',
      nodeId: 'n1',
      channel: { term: 1n },
    });
    expect(await manager.assignDone('p0', 1n)).toBe(true);
    const moved = await manager.assign('p0', 'n2');
    expect(moved).toMatchObject({
      state: 'assigning',
      nodeId: 'n2',
      channel: { term: 2n },
      history: [{ nodeId: 'n1', term: 1n }],
    });
    // A second move before the first finished: both old owners stay in the history.
    const again = await manager.assign('p0', 'n3');
    expect(again.channel.term).toBe(3n);
    expect(again.history).toEqual([
      { nodeId: 'n1', term: 1n },
      { nodeId: 'n2', term: 2n },
    ]);
    expect(await manager.assignDone('p0', 2n)).toBe(false);
    expect(await manager.assignDone('p0', 3n)).toBe(true);
    expect(manager.get('p0')).toMatchObject({ state: 'assigned', nodeId: 'n3', history: [] });
  });

  test('asking again for the pending owner keeps the term; an unavailable pchannel on the same node gets a new one', async () => {
    const manager = await open(new MemoryCatalog());
    await manager.assign('p0', 'n1');
    expect((await manager.assign('p0', 'n1')).channel.term).toBe(1n);
    await manager.assignDone('p0', 1n);
    expect(await manager.markUnavailable('p0', 0n)).toBe(false);
    expect(await manager.markUnavailable('p0', 1n)).toBe(true);
    expect((await manager.assign('p0', 'n1')).channel.term).toBe(2n);
  });

  test('a change the catalog refused leaves the meta and the version as they were', async () => {
    const catalog = new FailingCatalog();
    const manager = await open(catalog);
    const before = manager.snapshot;
    catalog.failing = true;
    await expect(manager.assign('p0', 'n1')).rejects.toThrow(/unreachable/);
    expect(manager.get('p0').state).toBe('uninitialized');
    expect(manager.snapshot.version).toEqual(before.version);
    catalog.failing = false;
    expect((await manager.assign('p0', 'n1')).channel.term).toBe(1n);
  });

  test('a restarted manager rebuilds every meta from the catalog and keeps pchannels no longer configured', async () => {
    const catalog = new MemoryCatalog();
    const first = await open(catalog);
    await first.assign('p0', 'n1');
    await first.assignDone('p0', 1n);
    await first.assign('p1', 'n2');
    const second = await ChannelManager.recover({ catalog, pchannels: ['p1', 'p2'], incarnation: 2n });
    expect(second.snapshot.metas.map((m) => [m.channel.name, m.state, m.nodeId, m.channel.term])).toEqual([
      ['p0', 'assigned', 'n1', 1n],
      ['p1', 'assigning', 'n2', 1n],
      ['p2', 'uninitialized', undefined, 0n],
    ]);
    expect(second.snapshot.version).toEqual({ incarnation: 2n, local: 0n });
    let error: unknown;
    try {
      second.get('nope');
    } catch (e) {
      error = e;
    }
    expect(hasCode(error, 'CHANNEL_NOT_EXIST')).toBe(true);
  });
});
