import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAdapter } from '@walstream/adapter-local';
import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import {
  type BackgroundErrorEvent,
  type Catalog,
  createWal,
  LocalTimestampAllocator,
  MemoryCatalog,
  type MessageID,
  pchannel,
  type TimestampAllocator,
  unmarshalMessageId,
  type WalOpener,
} from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { type SemanticsCheckpoint, walSemantics } from '@walstream/interceptors';
import { createWalManager, type FlusherOptions, type WalManager } from '@walstream/node';
import { afterEach, describe, expect, it } from 'vitest';
import { type Appended, appendNotes, byVChannel, createVChannels, MemorySink } from './flusher-support.js';
import { until } from './wal-manager-support.js';

const P = 'fl';
const VCHANNELS = [`${P}_av0`, `${P}_bv0`];
/** Saves every few ms, so truncation follows the sinks closely. */
const SEMANTICS = { recovery: { persistIntervalMs: 5 }, timeTick: { syncGapMs: 1 } };

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

interface Node {
  readonly catalog: Catalog;
  readonly manager: WalManager;
  readonly opener: WalOpener;
  close(): Promise<void>;
}

async function startNode(
  adapter: WalImplsBuilder,
  catalog: Catalog,
  flusher: FlusherOptions,
  allocator?: TimestampAllocator,
): Promise<Node> {
  const opener = await createWal({
    catalog,
    runtime: { appendRetry: { initialMs: 1, maxMs: 5 } },
    ...(allocator ? { allocator } : {}),
  })
    .adapter(adapter)
    .use(...walSemantics(SEMANTICS))
    .build();
  const manager = createWalManager({ opener, catalog, flusher });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await manager.close();
    await opener.close();
  };
  cleanup.push(close);
  return { catalog, manager, opener, close };
}

/** Timeticks of the data messages the memory store still holds for `P`. */
function retained(store: MemoryLogStore): Set<bigint> {
  return new Set(
    store
      .messages(P)
      .filter((message) => message.hasTimeTick)
      .map((message) => message.timeTick),
  );
}

/** Every appended message the store dropped is durable in every sink. */
function expectDroppedOnlyWhenDurable(
  store: MemoryLogStore,
  appended: readonly Appended[],
  sinks: MemorySink[],
) {
  const kept = retained(store);
  const dropped = appended.filter((entry) => !kept.has(entry.timeTick));
  for (const entry of dropped) for (const sink of sinks) expect(sink.has(entry)).toBe(true);
  return dropped.length;
}

describe('flusher on the memory adapter', () => {
  it('each sink gets every vchannel in order; the WAL is truncated behind what every sink made durable', async () => {
    const store = new MemoryLogStore();
    const sinks = [new MemorySink('a'), new MemorySink('b')];
    const node = await startNode(memoryAdapter({ store }), new MemoryCatalog(), { sinks, syncIntervalMs: 1 });
    node.manager.assign(pchannel(P, 1n));
    const wal = await node.manager.get(P, 1n);
    const appended = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 40))];
    const expected = byVChannel(appended);
    await until(
      () =>
        sinks.every((sink) => VCHANNELS.every((v) => sink.timeTicks(v).length === expected.get(v)!.length)),
      'both sinks to hold everything',
    );
    for (const sink of sinks) for (const v of VCHANNELS) expect(sink.timeTicks(v)).toEqual(expected.get(v));
    const first = appended[0]!.timeTick;
    await until(() => !retained(store).has(first), 'a truncation past the first message');
    expect(expectDroppedOnlyWhenDurable(store, appended, sinks)).toBeGreaterThan(0);
  });

  it('a stalled sink holds truncation back at what it made durable; released, truncation goes on', async () => {
    const store = new MemoryLogStore();
    const catalog = new MemoryCatalog();
    const fast = new MemorySink('fast');
    const slow = new MemorySink('slow');
    const node = await startNode(memoryAdapter({ store }), catalog, {
      sinks: [fast, slow],
      syncIntervalMs: 1,
    });
    node.manager.assign(pchannel(P, 1n));
    const wal = await node.manager.get(P, 1n);
    const before = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 10))];
    await until(() => before.every((entry) => slow.has(entry)), 'the slow sink to hold the first batch');
    slow.stall();
    const after = await appendNotes(wal, VCHANNELS, 30, 10);
    await until(() => after.every((entry) => fast.has(entry)), 'the fast sink to hold the second batch');
    // Checkpoints keep being saved past the second batch while the slow sink is stalled.
    const last = after.at(-1)!.timeTick;
    await until(async () => (await checkpointTimeTick(catalog)) > last, 'a checkpoint past the second batch');
    // The WAL is cut exactly at the lower of the saved checkpoint and the saved flushed position — the
    // slow sink's, which stands still while it is stalled.
    await until(async () => {
      const bound = await truncationBound(catalog);
      const first = store.messages(P)[0];
      return bound !== undefined && first !== undefined && first.id.compare(bound) === 0;
    }, 'the WAL to be truncated at the saved bound');
    const all = [...before, ...after];
    expectDroppedOnlyWhenDurable(store, all, [fast, slow]);
    const kept = retained(store);
    for (const entry of after) expect(kept.has(entry.timeTick)).toBe(true);
    expect(after.some((entry) => slow.has(entry))).toBe(false);

    slow.release();
    await until(() => after.every((entry) => slow.has(entry)), 'the slow sink to catch up');
    await until(() => !retained(store).has(after[0]!.timeTick), 'truncation past the second batch start');
    expectDroppedOnlyWhenDurable(store, all, [fast, slow]);
  });

  it('a sink whose sync fails is reported, gets nothing more this term, holds truncation back, and resumes next term', async () => {
    const store = new MemoryLogStore();
    const catalog = new MemoryCatalog();
    const good = new MemorySink('good');
    const bad = new MemorySink('bad');
    const failures: BackgroundErrorEvent[] = [];
    const opener = await createWal({ catalog })
      .adapter(memoryAdapter({ store }))
      .use(...walSemantics(SEMANTICS))
      .build();
    const options = { sinks: [good, bad], syncIntervalMs: 1 };
    const manager = createWalManager({
      opener,
      catalog,
      flusher: options,
      onError: (event) => failures.push(event),
    });
    cleanup.push(async () => {
      await manager.close();
      await opener.close();
    });
    manager.assign(pchannel(P, 1n));
    const wal = await manager.get(P, 1n);
    bad.failWith = new Error('disk full');
    const appended = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 10))];
    await until(() => failures.length > 0, 'the failure report');
    expect(failures[0]).toMatchObject({ component: 'flusher.sink.bad', pchannel: P, retrying: false });
    await until(() => appended.every((entry) => good.has(entry)), 'the good sink to hold everything');
    const last = appended.at(-1)!.timeTick;
    await until(async () => (await checkpointTimeTick(catalog)) > last, 'a checkpoint past the appends');
    // Nothing durable in the failed sink: nothing is truncated.
    for (const entry of appended) expect(retained(store).has(entry.timeTick)).toBe(true);
    expect(bad.syncs).toBe(0);

    bad.failWith = undefined;
    manager.assign(pchannel(P, 2n));
    await manager.get(P, 2n);
    await until(() => appended.every((entry) => bad.has(entry)), 'the bad sink to catch up in the next term');
    await until(() => !retained(store).has(appended[0]!.timeTick), 'truncation once both sinks hold it');
  });

  it('a graceful close hands every sink all the term wrote, and the final record carries that position', async () => {
    const catalog = new MemoryCatalog();
    const sink = new MemorySink('a');
    const node = await startNode(memoryAdapter(), catalog, { sinks: [sink], syncIntervalMs: 50 });
    node.manager.assign(pchannel(P, 1n));
    const wal = await node.manager.get(P, 1n);
    const appended = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 10))];
    await node.close();
    for (const entry of appended) expect(sink.has(entry)).toBe(true);
    const record = (await catalog.getCheckpoint(P)) as SemanticsCheckpoint;
    const flushed = JSON.parse(record.flushed!) as { timeTick: string };
    expect(BigInt(flushed.timeTick)).toBeGreaterThanOrEqual(appended.at(-1)!.timeTick);
  });

  it('without sinks, size retention truncates once the WAL holds more than maxBytes, and keeps at least maxBytes', async () => {
    const store = new MemoryLogStore();
    const node = await startNode(memoryAdapter({ store }), new MemoryCatalog(), {
      retention: { maxBytes: 2000 },
    });
    node.manager.assign(pchannel(P, 1n));
    const wal = await node.manager.get(P, 1n);
    const appended = [
      ...(await createVChannels(wal, VCHANNELS)),
      ...(await appendNotes(wal, VCHANNELS, 100)),
    ];
    await until(() => !retained(store).has(appended[0]!.timeTick), 'a truncation');
    // The flusher counts the messages' estimated size; what is left is at least maxBytes of them.
    const keptBytes = store
      .messages(P)
      .filter((message) => message.vchannel !== undefined)
      .reduce((sum, message) => sum + message.estimateSize(), 0);
    expect(keptBytes).toBeGreaterThanOrEqual(2000);
  });

  it('without sinks, age retention truncates only what is older than maxAgeMs', async () => {
    const store = new MemoryLogStore();
    // One hand-moved clock for the timeticks and for retention.
    let now = Date.now();
    const clock = () => now;
    const node = await startNode(
      memoryAdapter({ store }),
      new MemoryCatalog(),
      { retention: { maxAgeMs: 60_000 }, now: clock },
      new LocalTimestampAllocator({ now: clock }),
    );
    node.manager.assign(pchannel(P, 1n));
    const wal = await node.manager.get(P, 1n);
    const appended = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 10))];
    // Checkpoints are saved meanwhile; nothing is a minute old yet.
    await until(
      async () => (await checkpointTimeTick(node.catalog)) > appended.at(-1)!.timeTick,
      'a checkpoint',
    );
    for (const entry of appended) expect(retained(store).has(entry.timeTick)).toBe(true);
    now += 120_000;
    const later = await appendNotes(wal, VCHANNELS, 4, 10);
    await until(
      () => !retained(store).has(appended[0]!.timeTick),
      'a truncation once the first messages are old',
    );
    for (const entry of later) expect(retained(store).has(entry.timeTick)).toBe(true);
  });

  it('without a flusher nothing is truncated', async () => {
    const store = new MemoryLogStore();
    const catalog = new MemoryCatalog();
    const opener = await createWal({ catalog })
      .adapter(memoryAdapter({ store }))
      .use(...walSemantics(SEMANTICS))
      .build();
    const manager = createWalManager({ opener, catalog });
    cleanup.push(async () => {
      await manager.close();
      await opener.close();
    });
    manager.assign(pchannel(P, 1n));
    const wal = await manager.get(P, 1n);
    const appended = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 20))];
    const last = appended.at(-1)!.timeTick;
    await until(async () => (await checkpointTimeTick(catalog)) > last, 'a checkpoint past the appends');
    for (const entry of appended) expect(retained(store).has(entry.timeTick)).toBe(true);
  });

  it('checks its options', async () => {
    const catalog = new MemoryCatalog();
    const opener = await createWal({ catalog })
      .adapter(memoryAdapter())
      .use(...walSemantics())
      .build();
    cleanup.push(() => opener.close());
    const make = (flusher: unknown) => () =>
      createWalManager({ opener, catalog, flusher: flusher as FlusherOptions });
    expect(make({ sinks: [new MemorySink('x')], retention: { maxBytes: 1 } })).toThrow(
      /retention applies without sinks/,
    );
    expect(make({ sinks: [new MemorySink('x'), new MemorySink('x')] })).toThrow(/two sinks are named/);
    expect(make({ retention: {} })).toThrow(/maxAgeMs or maxBytes/);
    expect(make({ syncIntervalMs: -1 })).toThrow(/syncIntervalMs/);
    expect(make({ bogus: 1 })).toThrow(/bogus/);
  });
});

/** min(checkpoint, flushed) of the catalog's record of `P`: where the flusher may truncate. */
async function truncationBound(catalog: Catalog): Promise<MessageID | undefined> {
  const record = (await catalog.getCheckpoint(P)) as SemanticsCheckpoint | undefined;
  if (!record?.flushed) return undefined;
  const checkpoint = unmarshalMessageId(record.walName, record.messageId);
  const flushed = unmarshalMessageId(
    record.walName,
    (JSON.parse(record.flushed) as { messageId: string }).messageId,
  );
  return checkpoint.compare(flushed) <= 0 ? checkpoint : flushed;
}

/** The timetick of the catalog's checkpoint of `P` (-1 without one). */
async function checkpointTimeTick(catalog: Catalog): Promise<bigint> {
  return (await catalog.getCheckpoint(P))?.timeTick ?? -1n;
}

describe('flusher on the local adapter', () => {
  it('a stalled sink holds truncation back: no segment it still needs is removed; released, truncation goes on', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'walstream-flusher-stall-'));
    cleanup.push(() => rm(directory, { recursive: true, force: true }));
    // Small segments, so truncation removes files as the test goes.
    const adapter = localAdapter({ directory, segmentBytes: 1024 });
    const catalog = new MemoryCatalog();
    const fast = new MemorySink('fast');
    const slow = new MemorySink('slow');
    const node = await startNode(adapter, catalog, { sinks: [fast, slow], syncIntervalMs: 1 });
    node.manager.assign(pchannel(P, 1n));
    const wal = await node.manager.get(P, 1n);
    const firstKept = async () => (await adapter.stats(P))?.firstOffset ?? 0;
    const offset = (entry: Appended) => Number(entry.result.messageId.marshal());
    const before = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 20))];
    await until(() => before.every((entry) => slow.has(entry)), 'the slow sink to hold the first batch');
    await until(async () => (await firstKept()) > 0, 'a truncation behind the first batch');
    slow.stall();
    const after = await appendNotes(wal, VCHANNELS, 40, 20);
    await until(() => after.every((entry) => fast.has(entry)), 'the fast sink to hold the second batch');
    // Two saves past the second batch, each answered by the flusher with a truncation where it may.
    const last = after.at(-1)!.timeTick;
    await until(async () => (await checkpointTimeTick(catalog)) > last, 'a checkpoint past the second batch');
    const seen = await checkpointTimeTick(catalog);
    await until(async () => (await checkpointTimeTick(catalog)) > seen, 'the next save');
    const kept = await firstKept();
    expect(offset(after[0]!)).toBeGreaterThanOrEqual(kept);
    for (const entry of [...before, ...after]) {
      if (offset(entry) < kept) expect(slow.has(entry) && fast.has(entry)).toBe(true);
    }

    slow.release();
    await until(() => after.every((entry) => slow.has(entry)), 'the slow sink to catch up');
    await until(async () => (await firstKept()) > offset(after[0]!), 'truncation into the second batch');
  });
});

describe.each([
  [
    'memory',
    async () => {
      const store = new MemoryLogStore();
      const adapter = memoryAdapter({ store });
      // Dropped: the store no longer holds the first message written.
      return { adapter, truncated: async () => store.messages(P)[0]?.id.marshal() !== '0' };
    },
  ],
  [
    'local',
    async () => {
      const directory = await mkdtemp(join(tmpdir(), 'walstream-flusher-'));
      cleanup.push(() => rm(directory, { recursive: true, force: true }));
      // Small segments, so truncation really removes files while the test runs.
      const adapter = localAdapter({ directory, segmentBytes: 1024 });
      return { adapter, truncated: async () => ((await adapter.stats(P))?.firstOffset ?? 0) > 0 };
    },
  ],
] as const)('flusher restart on the %s adapter', (_name, make) => {
  it('after a restart each sink receives exactly what it had not made durable', async () => {
    const { adapter: shared, truncated } = await make();
    const catalog = new MemoryCatalog();
    const steady = new MemorySink('steady');
    const stalling = new MemorySink('stalling');
    const first = await startNode(shared, catalog, {
      sinks: [steady, stalling],
      syncIntervalMs: 1,
      closeTimeoutMs: 50,
    });
    first.manager.assign(pchannel(P, 1n));
    const wal = await first.manager.get(P, 1n);
    const early = [...(await createVChannels(wal, VCHANNELS)), ...(await appendNotes(wal, VCHANNELS, 12))];
    await until(
      () => early.every((entry) => stalling.has(entry)),
      'the stalling sink to hold the first batch',
    );
    // The WAL is cut behind the first batch; the second one, which the stalled sink will lack, must stay.
    await until(truncated, 'a truncation behind the first batch');
    stalling.stall();
    const late = await appendNotes(wal, VCHANNELS, 12, 12);
    await until(() => late.every((entry) => steady.has(entry)), 'the steady sink to hold the second batch');
    // Closing gives the stalled sink up after closeTimeoutMs: what it took is lost with its process.
    await first.close();
    expect(late.some((entry) => stalling.has(entry))).toBe(false);
    stalling.release();

    const second = await startNode(shared, catalog, { sinks: [steady, stalling], syncIntervalMs: 1 });
    second.manager.assign(pchannel(P, 2n));
    const wal2 = await second.manager.get(P, 2n);
    const more = await appendNotes(wal2, VCHANNELS, 6, 24);
    const all = [...early, ...late, ...more];
    await until(
      () => all.every((entry) => steady.has(entry) && stalling.has(entry)),
      'both sinks to hold everything',
    );
    const expected = byVChannel(all);
    for (const sink of [steady, stalling]) {
      // In order, each message once.
      for (const v of VCHANNELS) expect(sink.timeTicks(v)).toEqual(expected.get(v));
    }
    // Term 2 handed each sink exactly what it lacked: the stalled one the second batch again, both the new ones.
    const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
    const tts = (sink: MemorySink) =>
      sink.written
        .get(2n)!
        .map((message) => message.timeTick)
        .sort(ascending);
    expect(tts(steady)).toEqual(more.map((entry) => entry.timeTick).sort(ascending));
    expect(tts(stalling)).toEqual([...late, ...more].map((entry) => entry.timeTick).sort(ascending));
  });
});
