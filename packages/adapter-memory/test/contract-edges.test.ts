/**
 * Edges of the memory adapter's contract that its other tests left open (found by `pnpm mutation`):
 * strict id decoding, foreign ids, what injected faults say about the append they failed, the seeded
 * schedule itself, the store's views, and a truncation that overtakes a delayed read.
 */
import {
  appendOutcome,
  DeliverPolicy,
  type MessageID,
  MutableMessage,
  pchannel,
  type WalError,
} from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { asMemoryMessageId, MemoryLogStore, MemoryMessageId, memoryAdapter } from '../src/index.js';
import { channelSeed, seededRandom } from '../src/rng.js';
import { foreignId, message, rejectsWith, throwsWith } from '../src/test-helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});

async function open(options: Parameters<typeof memoryAdapter>[0] = {}, name = 'ch') {
  const adapter = memoryAdapter(options);
  const opener = await adapter.build();
  openers.push(opener);
  const wal = await opener.open({ channel: pchannel(name, 1n) });
  return { store: adapter.store, opener, wal };
}

describe('memory MessageIDs', () => {
  it('unmarshal takes canonical decimals only', () => {
    expect(MemoryMessageId.unmarshal('0').offset).toBe(0);
    expect(MemoryMessageId.unmarshal('907').offset).toBe(907);
    // Number() would read each of these as an offset; the id's own form is plain decimal.
    for (const bad of ['007', '0x10', '1e3', ' 7', '7 ', '+7', '', '-1', '1.5']) {
      const error = throwsWith(() => MemoryMessageId.unmarshal(bad), 'INVALID_MESSAGE_ID');
      expect(error.retriable).toBe(false);
    }
  });

  it('asMemoryMessageId refuses what is not a memory id, naming the problem', () => {
    expect(asMemoryMessageId({ walName: 'memory', offset: 3 } as unknown as MessageID).offset).toBe(3);
    for (const bad of [null, undefined, 7, 'memory:3']) {
      const error = throwsWith(() => asMemoryMessageId(bad as unknown as MessageID), 'INVALID_MESSAGE_ID');
      expect(error.message).toContain('expected a memory MessageID');
      expect(error.retriable).toBe(false);
    }
    const kafka = throwsWith(() => asMemoryMessageId(foreignId(3)), 'INVALID_MESSAGE_ID');
    expect(kafka.message).toContain('a kafka MessageID');
    expect(kafka.details.id).toBe('kafka:3');
    const noOffset = throwsWith(
      () => asMemoryMessageId({ walName: 'memory', offset: '3' } as unknown as MessageID),
      'INVALID_MESSAGE_ID',
    );
    expect(noOffset.message).toContain('has no offset');
  });

  it("truncate and read refuse another adapter's id INVALID_MESSAGE_ID, and change nothing", async () => {
    const { store, wal } = await open();
    await wal.append(message(0));
    await rejectsWith(wal.truncate(foreignId(0)), 'INVALID_MESSAGE_ID');
    await rejectsWith(
      wal.read({ name: 'r', deliverPolicy: DeliverPolicy.startFrom(foreignId(0)) }),
      'INVALID_MESSAGE_ID',
    );
    await rejectsWith(
      wal.read({ name: 'r', deliverPolicy: DeliverPolicy.startAfter(foreignId(0)) }),
      'INVALID_MESSAGE_ID',
    );
    expect(store.stats('ch')).toMatchObject({ entries: 1, firstOffset: 0, openScanners: 0 });
  });
});

describe('arguments the memory WAL refuses', () => {
  it('open without options or channel, read without options or deliver policy: INVALID_ARGUMENT, not a TypeError', async () => {
    const { opener, wal } = await open();
    for (const options of [undefined, {}, { channel: null }]) {
      const error = await rejectsWith(opener.open(options as never), 'INVALID_ARGUMENT');
      expect(error.retriable).toBe(false);
    }
    await rejectsWith(wal.read(undefined as never), 'INVALID_ARGUMENT');
    const noPolicy = await rejectsWith(wal.read({ name: 'r' } as never), 'INVALID_ARGUMENT');
    expect(noPolicy.message).toContain('unknown deliver policy');
    expect(noPolicy.retriable).toBe(false);
  });

  it('truncate to an id never written: INVALID_ARGUMENT, not retriable, naming the pchannel', async () => {
    const { wal } = await open();
    await wal.append(message(0));
    const error = await rejectsWith(wal.truncate(new MemoryMessageId(5)), 'INVALID_ARGUMENT');
    expect(error.retriable).toBe(false);
    expect(error.details.channel).toBe('ch');
    expect(error.message).toContain('next offset is 1');
  });

  it('a writer of a lower term is fenced with the terms in its details', async () => {
    const adapter = memoryAdapter();
    const opener = await adapter.build();
    openers.push(opener);
    const old = await opener.open({ channel: pchannel('ch', 1n) });
    await opener.open({ channel: pchannel('ch', 3n) });
    const error = await rejectsWith(old.append(message(0)), 'CHANNEL_FENCED');
    expect(error.retriable).toBe(false);
    expect(error.details).toEqual({ channel: 'ch', term: 1n, fencedBy: 3n });
  });

  it('a full log says which limit, its size and what is retained', async () => {
    const { wal } = await open({ store: new MemoryLogStore({ maxEntriesPerChannel: 2 }) });
    await wal.append(message(0));
    await wal.append(message(1));
    const error = await rejectsWith(wal.append(message(2)), 'CAPACITY_EXCEEDED');
    expect(error.retriable).toBe(false);
    expect(error.details).toEqual({ channel: 'ch', limit: 'maxEntriesPerChannel', max: 2, retained: 2 });
  });
});

describe('injected faults tell the caller what happened to the append', () => {
  it('an injected UNAVAILABLE was not written; a lost acknowledgement was', async () => {
    const { store, wal } = await open();
    store.faults('ch').set({ appendErrorRate: 1 });
    const unavailable = await rejectsWith(wal.append(message(0)), 'UNAVAILABLE');
    expect(unavailable.retriable).toBe(true);
    expect(unavailable.details).toMatchObject({ injected: true, written: false });
    expect(appendOutcome(unavailable)).toBe('not-written');

    store.faults('ch').set({ appendErrorRate: 0, lostAckRate: 1 });
    const lost = await rejectsWith(wal.append(message(1)), 'UNAVAILABLE');
    expect(lost.retriable).toBe(true);
    expect(lost.details).toMatchObject({ injected: true, written: true });
    expect(appendOutcome(lost)).toBe('written');
    expect(store.messages('ch').map((m) => m.properties.id)).toEqual(['1']);

    store.faults('ch').set({ lostAckRate: 0, fenced: true });
    const fenced = await rejectsWith(wal.append(message(2)), 'CHANNEL_FENCED');
    expect(fenced.retriable).toBe(false);
    expect(fenced.details).toMatchObject({ injected: true });
  });

  it('a lostAckRate below 1 loses some acknowledgements, not all, and every append lands', async () => {
    const { store, wal } = await open({ seed: 11 });
    store.faults('ch').set({ lostAckRate: 0.5 });
    const outcomes: string[] = [];
    for (let i = 0; i < 40; i++) {
      outcomes.push(
        await wal.append(message(i)).then(
          () => 'ok',
          (error: WalError) => error.code,
        ),
      );
    }
    expect(outcomes).toContain('ok');
    expect(outcomes).toContain('UNAVAILABLE');
    expect(store.stats('ch').entries).toBe(40);
  });

  it('the schedule is mulberry32 seeded by FNV-1a of the pchannel name: fixed numbers for a fixed seed', () => {
    // Reference values of the published algorithms, computed outside this code base.
    const random = seededRandom(42);
    expect([random(), random(), random()]).toEqual([
      0.6011037519201636, 0.44829055899754167, 0.8524657934904099,
    ]);
    const zero = seededRandom(0);
    expect([zero(), zero(), zero()]).toEqual([
      0.26642920868471265, 0.0003297457005828619, 0.2232720274478197,
    ]);
    expect(channelSeed(0, '')).toBe(0x811c9dc5);
    expect(channelSeed(0, 'a')).toBe(0xe40c292c);
    expect(channelSeed(42, 'ch')).toBe(1_122_552_804);
    expect(channelSeed(7, 'pchannel-1')).toBe(525_239_135);
  });
});

describe("the store's views", () => {
  it('messages() is a copy: changing it changes nothing in the store', async () => {
    const { store, wal } = await open();
    await wal.append(message(0));
    await wal.append(message(1));
    const copy = store.messages('ch');
    copy.length = 0;
    copy.push(new MutableMessage(new Uint8Array(), {}).intoImmutable(new MemoryMessageId(9)));
    expect(store.messages('ch').map((m) => m.properties.id)).toEqual(['0', '1']);
  });

  it('channels() lists every pchannel sorted, whatever the order they were first used in', async () => {
    const store = new MemoryLogStore();
    const opener = await memoryAdapter({ store }).build();
    openers.push(opener);
    for (const name of ['m', 'b', 'z', 'a']) await opener.open({ channel: pchannel(name, 1n) });
    expect(store.channels()).toEqual(['a', 'b', 'm', 'z']);
  });

  it('an empty pchannel name is refused INVALID_ARGUMENT', () => {
    const store = new MemoryLogStore();
    throwsWith(() => store.messages(''), 'INVALID_ARGUMENT');
    throwsWith(() => store.faults(''), 'INVALID_ARGUMENT');
  });
});

describe('a truncation that overtakes a delayed read', () => {
  it('the reader delivers the first retained entry, not the one truncated while it waited', async () => {
    vi.useFakeTimers();
    const { store, wal } = await open();
    const ids: MessageID[] = [];
    for (let i = 0; i < 3; i++) ids.push(await wal.append(message(i)));
    store.faults('ch').set({ readDelayMs: 1_000 });
    const scanner = await wal.read({ name: 'slow', deliverPolicy: DeliverPolicy.all() });
    const first = scanner[Symbol.asyncIterator]().next();
    // The fetch loop sits in its read delay, holding entry 0.
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    await wal.truncate(ids[2]!);
    await vi.advanceTimersByTimeAsync(2_000);
    const delivered = await first;
    expect(delivered.done).toBe(false);
    expect(delivered.value?.properties.id).toBe('2');
    await scanner.close();
  });
});
