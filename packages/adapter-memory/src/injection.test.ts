import { DeliverPolicy, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryAdapter } from './adapter.js';
import { isPending, message, rejectsWith, within } from './test-helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});

async function setup(seed?: number) {
  const adapter = memoryAdapter(seed === undefined ? {} : { seed });
  const opener = await adapter.build();
  openers.push(opener);
  const wal = await opener.open({ channel: pchannel('ch', 1n) });
  return { store: adapter.store, wal };
}

/** Appends `count` messages and reports which ones failed, by error code. */
async function outcomes(setupResult: { wal: Awaited<ReturnType<typeof setup>>['wal'] }, count: number) {
  const result: string[] = [];
  for (let i = 0; i < count; i++) {
    result.push(
      await setupResult.wal.append(message(i)).then(
        () => 'ok',
        (error: { code: string }) => error.code,
      ),
    );
  }
  return result;
}

describe('fault injection through the WAL', () => {
  it('appendErrorRate rejects with UNAVAILABLE (retriable) and writes nothing', async () => {
    const { store, wal } = await setup();
    store.faults('ch').set({ appendErrorRate: 1 });
    const error = await rejectsWith(wal.append(message(0)), 'UNAVAILABLE');
    expect(error.retriable).toBe(true);
    expect(store.stats('ch').entries).toBe(0);
    store.faults('ch').clear();
    expect((await wal.append(message(1))).marshal()).toBe('0');
  });

  it('replays the same failure schedule for the same seed', async () => {
    const runs = await Promise.all(
      [7, 7, 8].map(async (seed) => {
        const context = await setup(seed);
        context.store.faults('ch').set({ appendErrorRate: 0.4 });
        return { context, result: await outcomes(context, 60) };
      }),
    );
    const [a, b, c] = runs.map((run) => run.result);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).toContain('UNAVAILABLE');
    expect(a).toContain('ok');
    // Exactly the successful appends landed, with gap-free ids.
    const landed = runs[0]!.context.store.messages('ch');
    expect(landed.length).toBe(a!.filter((o) => o === 'ok').length);
    expect(landed.map((m) => m.id.marshal())).toEqual(landed.map((_, i) => String(i)));
  });

  it('fenced rejects appends with CHANNEL_FENCED (not retriable) until cleared', async () => {
    const { store, wal } = await setup();
    store.faults('ch').set({ fenced: true });
    const error = await rejectsWith(wal.append(message(0)), 'CHANNEL_FENCED');
    expect(error.retriable).toBe(false);
    store.faults('ch').set({ fenced: false });
    await expect(wal.append(message(1))).resolves.toBeDefined();
  });

  it('faults can be set before the channel is opened and are per channel', async () => {
    const adapter = memoryAdapter();
    adapter.store.faults('a').set({ appendErrorRate: 1 });
    const opener = await adapter.build();
    openers.push(opener);
    const a = await opener.open({ channel: pchannel('a', 1n) });
    const b = await opener.open({ channel: pchannel('b', 1n) });
    await rejectsWith(a.append(message(0)), 'UNAVAILABLE');
    await expect(b.append(message(0))).resolves.toBeDefined();
  });

  it('appendDelayMs holds the append back, then writes', async () => {
    const { store, wal } = await setup();
    store.faults('ch').set({ appendDelayMs: 20 });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const pending = wal.append(message(0));
    await vi.advanceTimersByTimeAsync(19);
    expect(await isPending(pending)).toBe(true);
    expect(store.stats('ch').entries).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).marshal()).toBe('0');
  });

  it('an abort during the append delay rejects ABORTED and writes nothing', async () => {
    const { store, wal } = await setup();
    store.faults('ch').set({ appendDelayMs: 60_000 });
    const controller = new AbortController();
    const pending = wal.append(message(0), { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    const error = await rejectsWith(within(pending, 2_000, 'aborted append'), 'ABORTED');
    expect((error.cause as Error).message).toBe('caller gave up');
    store.faults('ch').clear();
    expect(store.stats('ch').entries).toBe(0);
  });

  it('closing the WAL during the append delay rejects CLOSED', async () => {
    const { store, wal } = await setup();
    store.faults('ch').set({ appendDelayMs: 60_000 });
    const pending = wal.append(message(0));
    await wal.close();
    await rejectsWith(within(pending, 2_000, 'append after close'), 'CLOSED');
    expect(store.stats('ch').entries).toBe(0);
  });

  it('a higher term opened during the append delay fences the delayed append', async () => {
    const { store, wal } = await setup();
    store.faults('ch').set({ appendDelayMs: 30 });
    const pending = wal.append(message(0));
    const opener = await memoryAdapter({ store }).build();
    openers.push(opener);
    await opener.open({ channel: pchannel('ch', 2n) });
    await rejectsWith(within(pending, 2_000, 'fenced append'), 'CHANNEL_FENCED');
  });

  it('readDelayMs holds each delivery back; closing a delayed scanner ends it at once', async () => {
    const { store, wal } = await setup();
    await wal.append(message(0));
    await wal.append(message(1));
    store.faults('ch').set({ readDelayMs: 15 });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const scanner = await wal.read({ name: 'r', deliverPolicy: DeliverPolicy.all() });
    const iterator = scanner[Symbol.asyncIterator]();
    const first = iterator.next();
    await vi.advanceTimersByTimeAsync(14);
    expect(await isPending(first)).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect((await first).value?.properties.id).toBe('0');
    const second = iterator.next();
    await vi.advanceTimersByTimeAsync(15);
    expect((await second).value?.properties.id).toBe('1');

    store.faults('ch').set({ readDelayMs: 60_000 });
    const slow = await wal.read({ name: 'slow', deliverPolicy: DeliverPolicy.all() });
    expect(store.stats('ch').openScanners).toBe(2);
    // No timer advances: only the close can end the wait.
    await slow.close();
    expect(await slow.done).toBeUndefined();
    expect(store.stats('ch').openScanners).toBe(1);
  });
});
