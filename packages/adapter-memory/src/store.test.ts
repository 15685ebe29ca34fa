import { DeliverPolicy, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryAdapter } from './adapter.js';
import { MemoryLogStore } from './store.js';
import { message, rejectsWith, take, throwsWith } from './test-helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});

async function walOn(store: MemoryLogStore, name = 'ch') {
  const opener = await memoryAdapter({ store }).build();
  openers.push(opener);
  return opener.open({ channel: pchannel(name, 1n) });
}

describe('MemoryLogStore options', () => {
  it('defaults to unbounded limits and seed 1', () => {
    const store = new MemoryLogStore();
    expect(store.maxEntriesPerChannel).toBe(Number.POSITIVE_INFINITY);
    expect(store.maxBytesPerChannel).toBe(Number.POSITIVE_INFINITY);
    expect(store.seed).toBe(1);
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects the limit %p with INVALID_ARGUMENT', (bad) => {
    throwsWith(() => new MemoryLogStore({ maxEntriesPerChannel: bad }), 'INVALID_ARGUMENT');
    throwsWith(() => new MemoryLogStore({ maxBytesPerChannel: bad }), 'INVALID_ARGUMENT');
  });

  it('rejects a non-integer seed', () => {
    throwsWith(() => new MemoryLogStore({ seed: 0.5 }), 'INVALID_ARGUMENT');
  });

  it('rejects limits passed next to an explicit store', () => {
    throwsWith(
      () => memoryAdapter({ store: new MemoryLogStore(), maxEntriesPerChannel: 3 }),
      'INVALID_ARGUMENT',
    );
    expect(memoryAdapter({ maxEntriesPerChannel: 3 }).store.maxEntriesPerChannel).toBe(3);
  });

  it('rejects empty pchannel names', () => {
    const store = new MemoryLogStore();
    throwsWith(() => store.stats(''), 'INVALID_ARGUMENT');
    throwsWith(() => store.faults(''), 'INVALID_ARGUMENT');
  });
});

describe('stats', () => {
  it('is all zero for an unknown pchannel and does not create it', () => {
    const store = new MemoryLogStore();
    expect(store.stats('nope')).toEqual({
      entries: 0,
      bytes: 0,
      firstOffset: 0,
      nextOffset: 0,
      openScanners: 0,
    });
    expect(store.messages('nope')).toEqual([]);
    expect(store.highestTerm('nope')).toBe(-1n);
    expect(store.channels()).toEqual([]);
  });

  it('counts entries, bytes (payload + property keys and values), offsets and open scanners', async () => {
    const store = new MemoryLogStore();
    const wal = await walOn(store);
    const one = message(1);
    const two = message(22, { extra: 'xyz' });
    await wal.append(one);
    await wal.append(two);
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    expect(store.stats('ch')).toEqual({
      entries: 2,
      bytes: one.estimateSize() + two.estimateSize(),
      firstOffset: 0,
      nextOffset: 2,
      openScanners: 1,
    });
    await scanner.close();
    expect(store.stats('ch').openScanners).toBe(0);
    expect(store.channels()).toEqual(['ch']);
  });

  it('tracks bytes the same way with and without a byte limit', async () => {
    const bounded = new MemoryLogStore({ maxBytesPerChannel: 1_000_000 });
    const unbounded = new MemoryLogStore();
    for (const store of [bounded, unbounded]) {
      const wal = await walOn(store);
      const written = [];
      for (let i = 0; i < 10; i++) written.push(await wal.append(message(i, { pad: 'p'.repeat(i) })));
      await wal.truncate(written[4]!);
    }
    expect(bounded.stats('ch')).toEqual(unbounded.stats('ch'));
    expect(bounded.stats('ch').bytes).toBe(
      bounded.messages('ch').reduce((sum, entry) => sum + entry.estimateSize(), 0),
    );
  });
});

describe('capacity', () => {
  it('maxEntriesPerChannel: the next append rejects CAPACITY_EXCEEDED naming the limit and the channel', async () => {
    const store = new MemoryLogStore({ maxEntriesPerChannel: 3 });
    const wal = await walOn(store, 'orders');
    const written = [];
    for (let i = 0; i < 3; i++) written.push(await wal.append(message(i)));
    const error = await rejectsWith(wal.append(message(3)), 'CAPACITY_EXCEEDED');
    expect(error.retriable).toBe(false);
    expect(error.message).toContain('maxEntriesPerChannel');
    expect(error.message).toContain('orders');
    expect(store.stats('orders').entries).toBe(3);
    // Truncation frees room (everything before the id; the id itself stays).
    await wal.truncate(written[1]!);
    expect((await wal.append(message(3))).marshal()).toBe('3');
  });

  it('maxBytesPerChannel: counts payload and properties, frees on truncate', async () => {
    const size = message(0).estimateSize();
    const store = new MemoryLogStore({ maxBytesPerChannel: size * 2 });
    const wal = await walOn(store, 'bytes');
    await wal.append(message(0));
    const second = await wal.append(message(1));
    const error = await rejectsWith(wal.append(message(2)), 'CAPACITY_EXCEEDED');
    expect(error.message).toContain('maxBytesPerChannel');
    expect(error.message).toContain('bytes');
    await wal.truncate(second);
    expect(store.stats('bytes').bytes).toBe(size);
    await wal.append(message(2));
  });

  it('limits apply per pchannel', async () => {
    const store = new MemoryLogStore({ maxEntriesPerChannel: 1 });
    await (await walOn(store, 'a')).append(message(0));
    await expect((await walOn(store, 'b')).append(message(0))).resolves.toBeDefined();
  });

  it('a full channel still serves readers', async () => {
    const store = new MemoryLogStore({ maxEntriesPerChannel: 2 });
    const wal = await walOn(store);
    await wal.append(message(0));
    await wal.append(message(1));
    await rejectsWith(wal.append(message(2)), 'CAPACITY_EXCEEDED');
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    expect((await take(scanner, 2)).map((m) => m.properties.id)).toEqual(['0', '1']);
  });
});
