import { type AccessMode, DeliverPolicy, type MessageID, MutableMessage, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type MemoryAdapterOptions, memoryAdapter } from './adapter.js';
import { MemoryMessageId } from './message-id.js';
import { MemoryLogStore } from './store.js';
import { foreignId, ids, isPending, message, rejectsWith, take, waitUntil, within } from './test-helpers.js';

const openers: WalImplsOpener[] = [];

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});

async function setup(options?: MemoryAdapterOptions) {
  const adapter = memoryAdapter(options);
  const opener = await adapter.build();
  openers.push(opener);
  const open = (term: bigint | number = 1n, accessMode: AccessMode = 'rw', name = 'ch') =>
    opener.open({ channel: pchannel(name, term, accessMode) });
  return { adapter, store: adapter.store, opener, open };
}

async function appendAll(wal: { append(m: MutableMessage): Promise<MessageID> }, from: number, to: number) {
  const written: MessageID[] = [];
  for (let i = from; i < to; i++) written.push(await wal.append(message(i)));
  return written;
}

describe('append', () => {
  it('returns ids that increase by one in append order', async () => {
    const { open } = await setup();
    const wal = await open();
    const written = await appendAll(wal, 0, 5);
    expect(written.map((id) => id.marshal())).toEqual(['0', '1', '2', '3', '4']);
    for (let i = 1; i < written.length; i++) expect(written[i]!.compare(written[i - 1]!)).toBeGreaterThan(0);
  });

  it('stores payload and properties exactly as given', async () => {
    const { open, store } = await setup();
    const wal = await open();
    const payload = Uint8Array.from([0, 255, 1, 254, 10, 13]);
    const properties = { id: '1', '': 'empty-key', unicode: 'é 漢 🚀', _tt: '1a', _vc: 'ch_v0', blank: '' };
    const id = await wal.append(new MutableMessage(payload, properties));
    const [stored] = store.messages('ch');
    expect(stored!.id.compare(id)).toBe(0);
    expect(Array.from(stored!.payload)).toEqual(Array.from(payload));
    expect({ ...stored!.properties }).toEqual(properties);
    const [read] = await take(await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all() }), 1);
    expect(Array.from(read!.payload)).toEqual(Array.from(payload));
    expect({ ...read!.properties }).toEqual(properties);
  });

  it('keeps the stored message independent of later changes to the MutableMessage', async () => {
    const { open, store } = await setup();
    const wal = await open();
    const mutable = message(1);
    await wal.append(mutable);
    mutable.withProperty('id', 'changed');
    expect(store.messages('ch')[0]!.properties.id).toBe('1');
  });

  it('a lost acknowledgement: the append is written, then rejects UNAVAILABLE (retriable)', async () => {
    const { open, store } = await setup();
    const wal = await open();
    store.faults('ch').set({ lostAckRate: 1 });
    await expect(wal.append(message(0))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      retriable: true,
      details: { written: true },
    });
    store.faults('ch').clear();
    await wal.append(message(1));
    // Both landed: the one whose acknowledgement was lost, and the next.
    expect(store.messages('ch').map((m) => m.properties.id)).toEqual(['0', '1']);
  });

  it('rejects something that is not a MutableMessage with INVALID_ARGUMENT', async () => {
    const { open } = await setup();
    const wal = await open();
    await rejectsWith(wal.append(null as unknown as MutableMessage), 'INVALID_ARGUMENT');
  });

  it('rejects an already aborted append with ABORTED and writes nothing', async () => {
    const { open, store } = await setup();
    const wal = await open();
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(wal.append(message(1), { signal: controller.signal }), 'ABORTED');
    expect(store.stats('ch').entries).toBe(0);
  });
});

describe('read: deliver policies', () => {
  it('all: every retained entry, then new ones', async () => {
    const { open } = await setup();
    const wal = await open();
    await appendAll(wal, 0, 3);
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    expect(scanner.name).toBe('r');
    expect(ids(await take(scanner, 3))).toEqual(['0', '1', '2']);
    await wal.append(message(3));
    expect(ids(await take(scanner, 1))).toEqual(['3']);
  });

  it('latest: only entries appended after the reader started', async () => {
    const { open } = await setup();
    const wal = await open();
    await appendAll(wal, 0, 3);
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.latest() });
    const first = scanner[Symbol.asyncIterator]().next();
    expect(await isPending(first)).toBe(true);
    await wal.append(message(3));
    const next = await within(first, 2_000, 'the first latest message');
    expect(next.done).toBe(false);
    expect(next.value?.properties.id).toBe('3');
  });

  it('startFrom is inclusive and startAfter exclusive', async () => {
    const { open } = await setup();
    const wal = await open();
    const written = await appendAll(wal, 0, 6);
    const from = await wal.read({ name: 'from', deliverPolicy: DeliverPolicy.startFrom(written[3]!) });
    const after = await wal.read({ name: 'after', deliverPolicy: DeliverPolicy.startAfter(written[3]!) });
    expect(ids(await take(from, 3))).toEqual(['3', '4', '5']);
    expect(ids(await take(after, 2))).toEqual(['4', '5']);
  });

  it('a position beyond the end waits for that entry', async () => {
    const { open } = await setup();
    const wal = await open();
    await appendAll(wal, 0, 2);
    const scanner = await wal.read({
      name: 'r',
      deliverPolicy: DeliverPolicy.startFrom(new MemoryMessageId(3)),
    });
    await appendAll(wal, 2, 5);
    expect(ids(await take(scanner, 2))).toEqual(['3', '4']);
  });

  it('readers have independent positions', async () => {
    const { open } = await setup();
    const wal = await open();
    await appendAll(wal, 0, 4);
    const a = await wal.read({ name: 'a', deliverPolicy: DeliverPolicy.all() });
    const b = await wal.read({ name: 'b', deliverPolicy: DeliverPolicy.all() });
    expect(ids(await take(a, 4))).toEqual(['0', '1', '2', '3']);
    expect(ids(await take(b, 2))).toEqual(['0', '1']);
    expect(ids(await take(b, 2))).toEqual(['2', '3']);
  });

  it('wakes a waiting reader on append without any timer', async () => {
    const { open } = await setup();
    const wal = await open();
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    const pending = scanner[Symbol.asyncIterator]().next();
    // With timers frozen, a polling reader could never see the append.
    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'setImmediate'] });
    await wal.append(message('woken'));
    const next = await pending;
    vi.useRealTimers();
    expect(next.value?.properties.id).toBe('woken');
  });

  it('bounds read-ahead: a consumer that does not pull stops the fetch at readAheadBufferSize', async () => {
    const { open } = await setup();
    const wal = await open();
    await appendAll(wal, 0, 50);
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all(), readAheadBufferSize: 4 });
    await waitUntil(() => scanner.buffered === 4, 'a full read-ahead buffer');
    await appendAll(wal, 50, 60);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(scanner.buffered).toBe(4);
    expect(ids(await take(scanner, 60))).toEqual(Array.from({ length: 60 }, (_, i) => String(i)));
  });

  it('rejects bad read options', async () => {
    const { open } = await setup();
    const wal = await open();
    await rejectsWith(
      wal.read({ name: 'r', deliverPolicy: DeliverPolicy.startFrom(foreignId(1)) }),
      'INVALID_MESSAGE_ID',
    );
    await rejectsWith(
      wal.read({ name: 'r', deliverPolicy: DeliverPolicy.startAfter(foreignId(1)) }),
      'INVALID_MESSAGE_ID',
    );
    await rejectsWith(
      wal.read({ name: 'r', deliverPolicy: { kind: 'sometime' } as unknown as DeliverPolicy }),
      'INVALID_ARGUMENT',
    );
    await rejectsWith(
      wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all(), readAheadBufferSize: 1.5 }),
      'INVALID_ARGUMENT',
    );
    await rejectsWith(wal.read({ deliverPolicy: DeliverPolicy.all() } as never), 'INVALID_ARGUMENT');
  });

  it('rejects an aborted read with ABORTED, and closes the scanner when the signal fires later', async () => {
    const { open, store } = await setup();
    const wal = await open();
    const aborted = new AbortController();
    aborted.abort();
    await rejectsWith(
      wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all(), signal: aborted.signal }),
      'ABORTED',
    );
    const controller = new AbortController();
    const scanner = await wal.read({
      name: 'r',
      deliverPolicy: DeliverPolicy.all(),
      signal: controller.signal,
    });
    expect(store.stats('ch').openScanners).toBe(1);
    controller.abort();
    expect(await within(scanner.done, 2_000, 'scanner end')).toBeUndefined();
    expect(store.stats('ch').openScanners).toBe(0);
  });
});

describe('truncate', () => {
  it('frees entries before the id: counts and bytes fall, the id stays readable, readers start at the first retained', async () => {
    const { open, store } = await setup();
    const wal = await open();
    const written = await appendAll(wal, 0, 10);
    const before = store.stats('ch');
    expect(before).toMatchObject({ entries: 10, firstOffset: 0, nextOffset: 10 });
    await wal.truncate(written[4]!);
    const after = store.stats('ch');
    expect(after).toMatchObject({ entries: 6, firstOffset: 4, nextOffset: 10 });
    expect(after.bytes).toBeLessThan(before.bytes);
    expect(after.bytes).toBe(store.messages('ch').reduce((sum, m) => sum + m.estimateSize(), 0));
    expect(ids(store.messages('ch'))).toEqual(['4', '5', '6', '7', '8', '9']);

    const all = await wal.read({ name: 'all', deliverPolicy: DeliverPolicy.all() });
    expect(ids(await take(all, 1))).toEqual(['4']);
    const at = await wal.read({ name: 'at', deliverPolicy: DeliverPolicy.startFrom(written[4]!) });
    expect(ids(await take(at, 1))).toEqual(['4']);
    // Documented: a position below the retained range starts at the first retained entry.
    const below = await wal.read({ name: 'below', deliverPolicy: DeliverPolicy.startFrom(written[1]!) });
    expect(ids(await take(below, 1))).toEqual(['4']);
  });

  it('is a no-op for an id already truncated, and rejects ids never written', async () => {
    const { open, store } = await setup();
    const wal = await open();
    const written = await appendAll(wal, 0, 5);
    await wal.truncate(written[3]!);
    await wal.truncate(written[0]!);
    expect(store.stats('ch').firstOffset).toBe(3);
    await rejectsWith(wal.truncate(new MemoryMessageId(5)), 'INVALID_ARGUMENT');
    await rejectsWith(wal.truncate(foreignId(1)), 'INVALID_MESSAGE_ID');
    await wal.truncate(written[4]!);
    expect(store.stats('ch')).toMatchObject({ entries: 1, firstOffset: 4, nextOffset: 5 });
    // Offsets never repeat after a full truncate.
    expect((await wal.append(message(5))).marshal()).toBe('5');
  });

  it('moves a reader that fell behind to the first retained entry', async () => {
    const { open } = await setup();
    const wal = await open();
    const written = await appendAll(wal, 0, 10);
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all(), readAheadBufferSize: 1 });
    expect(ids(await take(scanner, 1))).toEqual(['0']);
    // Now '1' sits in the read-ahead buffer and the fetch loop holds '2', waiting for room.
    await waitUntil(() => scanner.buffered === 1, 'a full read-ahead buffer');
    await wal.truncate(written[7]!);
    // What was fetched before the truncate is still delivered; then the reader skips to offset 7.
    expect(ids(await take(scanner, 4))).toEqual(['1', '2', '7', '8']);
  });
});

describe('fencing', () => {
  it('a RW open at a higher term fences writers of lower terms (CHANNEL_FENCED, not retriable)', async () => {
    const { open, store } = await setup();
    const old = await open(1n);
    await old.append(message(0));
    const current = await open(2n);
    expect(store.highestTerm('ch')).toBe(2n);
    const error = await rejectsWith(old.append(message(1)), 'CHANNEL_FENCED');
    expect(error.retriable).toBe(false);
    expect(error.message).toContain('ch');
    await rejectsWith(old.truncate(new MemoryMessageId(0)), 'CHANNEL_FENCED');
    await current.append(message(2));
    // The fenced WAL still reads.
    const scanner = await old.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    expect(ids(await take(scanner, 2))).toEqual(['0', '2']);
  });

  it('a WAL opened at a lower term than the store has seen is fenced from the start', async () => {
    const { open } = await setup();
    await open(5n);
    const late = await open(3n);
    await rejectsWith(late.append(message(0)), 'CHANNEL_FENCED');
  });

  it('same-term writers and read-only opens do not fence', async () => {
    const { open, store } = await setup();
    const a = await open(2n);
    const b = await open(2n);
    await open(9n, 'ro');
    expect(store.highestTerm('ch')).toBe(2n);
    await a.append(message(0));
    await b.append(message(1));
    expect(store.stats('ch').entries).toBe(2);
  });

  it('fences per pchannel', async () => {
    const { open } = await setup();
    const a = await open(1n, 'rw', 'a');
    await open(2n, 'rw', 'b');
    await expect(a.append(message(0))).resolves.toBeDefined();
  });
});

describe('read-only WAL', () => {
  it('rejects append and truncate with READ_ONLY and reads normally', async () => {
    const { open } = await setup();
    const rw = await open(1n);
    const written = await appendAll(rw, 0, 2);
    const ro = await open(1n, 'ro');
    expect(ro.channel).toEqual({ name: 'ch', term: 1n, accessMode: 'ro' });
    const error = await rejectsWith(ro.append(message(9)), 'READ_ONLY');
    expect(error.retriable).toBe(false);
    await rejectsWith(ro.append(null as unknown as MutableMessage), 'READ_ONLY');
    await rejectsWith(ro.truncate(written[0]!), 'READ_ONLY');
    await rejectsWith(ro.truncate(null as unknown as MessageID), 'READ_ONLY');
    const scanner = await ro.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    expect(ids(await take(scanner, 2))).toEqual(['0', '1']);
  });
});

describe('close', () => {
  it('rejects append, read and truncate with CLOSED afterwards; close is idempotent', async () => {
    const { open } = await setup();
    const wal = await open();
    const id = await wal.append(message(0));
    const first = wal.close();
    expect(wal.close()).toBe(first);
    await first;
    await rejectsWith(wal.append(message(1)), 'CLOSED');
    await rejectsWith(wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all() }), 'CLOSED');
    await rejectsWith(wal.truncate(id), 'CLOSED');
  });

  it('closes the WAL’s scanners: iteration ends and done resolves undefined', async () => {
    const { open, store } = await setup();
    const wal = await open();
    const scanners = await Promise.all(
      ['a', 'b', 'c'].map((name) => wal.read({ name, deliverPolicy: DeliverPolicy.all() })),
    );
    const waiting = scanners[0]![Symbol.asyncIterator]().next();
    expect(store.stats('ch').openScanners).toBe(3);
    await wal.close();
    expect(store.stats('ch').openScanners).toBe(0);
    expect((await within(waiting, 2_000, 'end of iteration')).done).toBe(true);
    for (const scanner of scanners) expect(await scanner.done).toBeUndefined();
  });

  it('leaves scanners of other WALs on the same pchannel running', async () => {
    const { open } = await setup();
    const a = await open();
    const b = await open();
    const scanner = await b.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    await a.close();
    await b.append(message(0));
    expect(ids(await take(scanner, 1))).toEqual(['0']);
  });

  it('supports await using', async () => {
    const { open } = await setup();
    let escaped: Awaited<ReturnType<typeof open>> | undefined;
    {
      await using wal = await open();
      escaped = wal;
      await wal.append(message(0));
    }
    await rejectsWith(escaped.append(message(1)), 'CLOSED');
  });

  it('fast open-and-close of many scanners leaks none', async () => {
    const { open, store } = await setup();
    const wal = await open();
    await appendAll(wal, 0, 20);
    const scanners = await Promise.all(
      Array.from({ length: 10 }, (_, i) => wal.read({ name: `s${i}`, deliverPolicy: DeliverPolicy.all() })),
    );
    await Promise.all(scanners.map((scanner) => scanner.close()));
    expect(store.stats('ch').openScanners).toBe(0);
    for (const scanner of scanners) expect(await scanner.done).toBeUndefined();
  });
});

describe('persistence in the store', () => {
  it('keeps data across closing the WAL and the opener, and across terms', async () => {
    const { adapter, open, opener } = await setup();
    const first = await open(1n);
    const written = await appendAll(first, 0, 3);
    await first.close();
    await opener.close();

    const again = await adapter.build();
    openers.push(again);
    const wal = await again.open({ channel: pchannel('ch', 2n) });
    await wal.append(message(3));
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.startFrom(written[1]!) });
    expect(ids(await take(scanner, 3))).toEqual(['1', '2', '3']);
  });

  it('shares one store between adapters; a fresh adapter gets a fresh store', async () => {
    const store = new MemoryLogStore();
    const one = await setup({ store });
    const two = await setup({ store });
    await (await one.open()).append(message('shared'));
    const scanner = await (await two.open(1n, 'ro')).read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    expect(ids(await take(scanner, 1))).toEqual(['shared']);
    const fresh = await setup();
    expect(fresh.store).not.toBe(store);
    expect(fresh.store.stats('ch').nextOffset).toBe(0);
  });
});
