import { type ImmutableMessage, SystemMessageType } from '@walstream/core';
import { SystemProperty } from '@walstream/core/spi';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testMessage } from '../testing.js';
import { WriteAheadBuffer, type WriteAheadBufferOptions } from './write-ahead-buffer.js';

const TICK = { [SystemProperty.messageType]: String(SystemMessageType.TimeTick) };
const tick = (id: number, tt: bigint) => testMessage(id, tt, TICK);
const idleTick = (id: number, tt: bigint) =>
  testMessage(id, tt, { ...TICK, [SystemProperty.notPersisted]: '' });
/** A buffer with large limits unless a test sets them. */
const buffer = (seed: ImmutableMessage, options: Partial<WriteAheadBufferOptions> = {}) =>
  new WriteAheadBuffer(seed, { capacityBytes: 1 << 30, keepaliveMs: 3_600_000, now: Date.now, ...options });
const msg = (id: number, tt: bigint, size = 0) => testMessage(id, tt, {}, new Uint8Array(size));

async function drain(
  reader: { next(signal?: AbortSignal): Promise<ImmutableMessage | undefined> },
  count: number,
) {
  const out: ImmutableMessage[] = [];
  for (let i = 0; i < count; i++) {
    const next = await reader.next(AbortSignal.timeout(10_000));
    if (!next) break;
    out.push(next);
  }
  return out;
}

describe('WriteAheadBuffer', () => {
  it('a reader that starts ahead of the buffer (it read the store first) skips what the buffer adds at or below its start', async () => {
    const wab = buffer(tick(0, 10n));
    wab.push([msg(1, 11n)], tick(2, 12n));
    // The reader has read the store up to a TimeTick at 16; the buffer has not been told about 13-16 yet.
    const reader = wab.readFromExclusiveTimeTick(16n)!;
    wab.push([msg(3, 13n), msg(4, 15n)], tick(5, 16n));
    wab.push([msg(6, 17n)], tick(7, 18n));
    expect((await drain(reader, 2)).map((m) => m.timeTick)).toEqual([17n, 18n]);
  });

  it('a txn body ordered at its commit above the start is handed out, even though its own timetick is below', async () => {
    const wab = buffer(tick(0, 10n));
    const reader = wab.readFromExclusiveTimeTick(14n)!;
    // A body written at 13 and committed at 15 is ordered at 15.
    wab.push([msg(1, 13n), msg(2, 15n)], tick(3, 16n), [15n, 15n]);
    expect((await drain(reader, 3)).map((m) => m.timeTick)).toEqual([13n, 15n, 16n]);
  });

  it('reads everything above an exclusive timetick, in order, then follows new syncs', async () => {
    const wab = buffer(tick(0, 10n));
    wab.push([msg(1, 11n), msg(2, 12n)], tick(3, 12n));
    const reader = wab.readFromExclusiveTimeTick(10n)!;
    expect((await drain(reader, 3)).map((m) => m.timeTick)).toEqual([11n, 12n, 12n]);
    const later = reader.next();
    wab.push([msg(4, 13n)], tick(5, 14n));
    expect((await later)?.timeTick).toBe(13n);
    expect((await reader.next())?.timeTick).toBe(14n);
    expect(wab.firstOffset).toBe(0);
    expect(wab.nextOffset).toBe(6);
  });

  it('starts in the middle by binary search and returns an empty-then-following reader at the end', async () => {
    const wab = buffer(tick(0, 10n));
    wab.push([msg(1, 11n), msg(2, 13n)], tick(3, 15n));
    expect((await drain(wab.readFromExclusiveTimeTick(12n)!, 2)).map((m) => m.timeTick)).toEqual([13n, 15n]);
    const atEnd = wab.readFromExclusiveTimeTick(15n)!;
    const pending = atEnd.next();
    wab.push([], idleTick(3, 16n));
    expect(await pending).toMatchObject({ persisted: false });
    expect((await pending)?.timeTick).toBe(16n);
  });

  it('tracks a non-persisted tick as the last tick only, handed to readers past every message', async () => {
    const wab = buffer(tick(0, 10n));
    wab.push([], idleTick(0, 20n));
    expect(wab.size).toBe(1);
    expect(wab.lastTimeTick).toBe(20n);
    const reader = wab.readFromExclusiveTimeTick(10n)!;
    const first = await reader.next();
    expect(first?.timeTick).toBe(20n);
    expect(first?.persisted).toBe(false);
    // Between the last message and the last tick: the tick alone.
    expect((await wab.readFromExclusiveTimeTick(15n)!.next())?.timeTick).toBe(20n);
  });

  it('refuses a timetick below the head (evicted) so the reader goes to the store', () => {
    const wab = buffer(tick(0, 10n));
    expect(wab.readFromExclusiveTimeTick(9n)).toBeUndefined();
    expect(wab.readFromExclusiveTimeTick(10n)).toBeDefined();
  });

  it('evicts by capacity from the head but never the last element, and a reader behind eviction gets undefined', async () => {
    const wab = buffer(tick(0, 10n), { capacityBytes: 100 });
    const reader = wab.readFromExclusiveTimeTick(10n)!;
    wab.push([msg(1, 11n, 60), msg(2, 12n, 60)], tick(3, 12n));
    // 60 + 60 + tick > 100: the oldest go, the newest stay.
    expect(wab.timeTicks()).toEqual([12n, 12n]);
    expect(await reader.next()).toBeUndefined();
    wab.push([msg(4, 13n, 500)], idleTick(3, 14n));
    expect(wab.size).toBe(1);
    expect(wab.timeTicks()).toEqual([13n]);
  });

  it('evicts by keepalive, again never the last element', () => {
    let now = 0;
    const wab = buffer(tick(0, 10n), { keepaliveMs: 100, now: () => now });
    wab.push([msg(1, 11n)], tick(2, 11n));
    now = 150;
    wab.push([msg(3, 12n)], idleTick(2, 13n));
    expect(wab.timeTicks()).toEqual([12n]);
    now = 1_000;
    wab.push([], idleTick(2, 14n));
    expect(wab.timeTicks()).toEqual([12n]);
  });

  it('rejects out-of-order pushes', () => {
    const wab = buffer(tick(0, 10n));
    expect(() => wab.push([msg(1, 9n)], tick(2, 12n))).toThrow(/out of order/);
    expect(() => wab.push([msg(1, 12n), msg(2, 11n)], tick(3, 12n))).toThrow(/out of order/);
    expect(() => wab.push([msg(1, 13n)], tick(2, 12n))).toThrow(/out of order/);
    wab.push([], tick(1, 12n));
    expect(() => wab.push([], tick(2, 11n))).toThrow(/behind/);
  });

  it('an append of unknown outcome: no reader passes it (undefined: read on from the store), none starts before it', async () => {
    const wab = buffer(tick(0, 10n), { capacityBytes: 100 });
    const reader = wab.readFromExclusiveTimeTick(10n)!;
    wab.push([msg(1, 11n)], tick(2, 11n));
    expect((await drain(reader, 2)).map((m) => m.timeTick)).toEqual([11n, 11n]);
    // The append at 12 failed, yet may be in the log; the tick at 14 covers it. The push evicts what the
    // reader already had: the unknown point stays.
    wab.push([msg(3, 13n, 80)], tick(4, 14n), undefined, [12n]);
    expect(wab.timeTicks()).toEqual([13n, 14n]);
    expect(await reader.next()).toBeUndefined();
    expect(wab.readFromExclusiveTimeTick(11n)).toBeUndefined();
    // Past it, the buffer serves as before.
    expect((await drain(wab.readFromExclusiveTimeTick(13n)!, 1)).map((m) => m.timeTick)).toEqual([14n]);
    const atEnd = wab.readFromExclusiveTimeTick(14n)!;
    const idle = atEnd.next();
    wab.push([], idleTick(4, 15n));
    expect((await idle)?.timeTick).toBe(15n);
    expect(() => wab.push([], tick(5, 17n), undefined, [18n])).toThrow(/out of order/);
    expect(() => wab.push([], tick(5, 17n), undefined, [15n])).toThrow(/out of order/);
  });

  it('wakes a waiting reader on abort, close of the reader, and close of the buffer', async () => {
    const wab = buffer(tick(0, 10n));
    const controller = new AbortController();
    const aborted = wab.readFromExclusiveTimeTick(10n)!.next(controller.signal);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    const reader = wab.readFromExclusiveTimeTick(10n)!;
    const closedReader = reader.next();
    reader.close();
    await expect(closedReader).resolves.toBeUndefined();
    const waiting = wab.readFromExclusiveTimeTick(10n)!.next();
    wab.close();
    await expect(waiting).rejects.toMatchObject({ code: 'CLOSED' });
    expect(wab.readFromExclusiveTimeTick(10n)).toBeUndefined();
  });

  it('property: any reader sees exactly the pushed messages above its timetick, in order, with continuous offsets', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ count: fc.nat(4), persisted: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        fc.nat(200),
        async (syncs, startPick) => {
          const wab = buffer(tick(0, 1n));
          const pushed: bigint[] = [1n];
          let tt = 1n;
          let id = 1;
          for (const sync of syncs) {
            const messages = Array.from({ length: sync.count }, () => msg(id++, ++tt));
            const t = sync.persisted || sync.count > 0 ? tick(id++, ++tt) : idleTick(0, ++tt);
            wab.push(messages, t);
            pushed.push(...messages.map((m) => m.timeTick));
            if (t.persisted) pushed.push(t.timeTick);
          }
          expect(wab.nextOffset - wab.firstOffset).toBe(pushed.length);
          const start = pushed[startPick % pushed.length]!;
          const reader = wab.readFromExclusiveTimeTick(start)!;
          const expected = pushed.filter((t) => t > start);
          const got = await drain(reader, expected.length);
          expect(got.map((m) => m.timeTick)).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
