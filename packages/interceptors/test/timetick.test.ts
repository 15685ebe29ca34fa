import { memoryAdapter } from '@walstream/adapter-memory';
import {
  DeliverPolicy,
  type ImmutableMessage,
  LocalTimestampAllocator,
  MemoryCatalog,
  pchannel,
  SystemMessageType,
} from '@walstream/core';
import { type InterceptorBuildParams, noObservability, SharedState } from '@walstream/core/spi';
import {
  beginTxnMessage,
  commitTxnMessage,
  createVChannel,
  inTxn,
  ShardMessageType,
  timeTick,
  walSemantics,
} from '@walstream/interceptors';
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../src/options.js';
import { SemanticsStack } from '../src/semantics-stack.js';
import {
  createCollection,
  isTick,
  lastConfirmedViolations,
  Note,
  note,
  PCHANNEL,
  StoreGate,
  semanticsStack,
  stored,
  timeTickViolations,
} from './support.js';

describe('timetick: fencing and stamping', () => {
  it('writes a persisted, all-vchannel fencing TimeTick above every earlier timetick; its LC is the checkpoint LC', async () => {
    const stack = await semanticsStack();
    const first = await stack.open(1n);
    // A fresh log has no checkpoint: the fence is its own LC.
    const firstFence = stack.context().fence;
    expect(firstFence.lastConfirmedId.compare(firstFence.id)).toBe(0);
    await createCollection(first, 'ps_av0');
    const last = await first.append(note('ps_av0', 1));
    await first.close();
    const checkpoint = await stack.catalog.getCheckpoint(PCHANNEL);
    await stack.open(2n);
    const fence = stack.context().fence;
    expect(fence.messageType).toBe(SystemMessageType.TimeTick);
    expect(fence.vchannel).toBeUndefined();
    expect(fence.persisted).toBe(true);
    // Where the previous term's state is recoverable from: open txns of term 1 begin at or after it.
    expect(fence.lastConfirmedId.marshal()).toBe(checkpoint!.messageId);
    expect(fence.walTerm).toBe(2n);
    expect(fence.timeTick).toBeGreaterThan(last.timeTick);
    expect(
      stored(stack)
        .filter(isTick)
        .every((tick) => tick.timeTick <= fence.timeTick),
    ).toBe(true);
    await stack.close();
  });

  it('gives every append a strictly increasing timetick and an LC at or before its own id', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0');
    // Concurrent appends allocate in call order (each takes its locks and timetick synchronously), so
    // allocation order is the order of `results`: each timetick must be above the one before.
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(note('ps_av0', i))));
    const ticks = results.map((r) => r.timeTick);
    const notAbovePrevious = ticks.filter((tick, i) => i > 0 && tick <= ticks[i - 1]!);
    expect(notAbovePrevious).toEqual([]);
    const log = stored(stack).filter((m) => !isTick(m));
    for (const message of log) expect(message.lastConfirmedId.compare(message.id)).toBeLessThanOrEqual(0);
    expect(lastConfirmedViolations(stored(stack))).toEqual([]);
    await stack.close();
  });
});

describe('timetick: sync messages', () => {
  it('covers an acknowledged append with a persisted TimeTick without waiting for an interval', async () => {
    // An idle interval of an hour, far beyond the test's bound: only the ack-driven sync can cover it.
    const stack = await semanticsStack({ timeTick: { syncGapMs: 1, idleTickIntervalMs: 3_600_000 } });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0');
    const result = await wal.append(note('ps_av0', 1));
    await expect
      .poll(() => stored(stack).some((m) => isTick(m) && m.persisted && m.timeTick >= result.timeTick), {
        timeout: 20_000,
      })
      .toBe(true);
    expect(timeTickViolations(stored(stack))).toEqual([]);
    await stack.close();
  });

  it('coalesces a burst: far fewer ticks than appends, and the contract holds', async () => {
    const stack = await semanticsStack({ timeTick: { syncGapMs: 5 } });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0');
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => wal.append(note('ps_av0', i))));
    const maxTt = results.reduce((max, r) => (r.timeTick > max ? r.timeTick : max), 0n);
    await expect.poll(() => stored(stack).some((m) => isTick(m) && m.timeTick >= maxTt)).toBe(true);
    const ticks = stored(stack).filter(isTick);
    expect(ticks.length).toBeLessThan(100);
    expect(timeTickViolations(stored(stack))).toEqual([]);
    await stack.close();
  });

  it('sends non-persisted ticks while idle: time moves in the WAL, nothing is written', async () => {
    const stack = await semanticsStack({ timeTick: { idleTickIntervalMs: 5 } });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0');
    await expect.poll(() => stored(stack).filter(isTick).length).toBeGreaterThanOrEqual(2);
    const context = stack.context();
    const before = stored(stack).length;
    const tickBefore = context.wab.lastTimeTick;
    await expect.poll(() => context.wab.lastTimeTick > tickBefore && context.sync.syncCount > 3).toBe(true);
    expect(stored(stack).length).toBe(before);
    // The idle tick reaches a tailing reader as a non-persisted TimeTick.
    const reader = context.wab.readFromExclusiveTimeTick(context.wab.timeTicks().at(-1)!)!;
    const idle = await reader.next(AbortSignal.timeout(10_000));
    expect(idle?.messageType).toBe(SystemMessageType.TimeTick);
    expect(idle?.persisted).toBe(false);
    reader.close();
    await wal.close();
    await stack.close();
  });
});

describe('timetick: write-ahead buffer', () => {
  it('holds exactly the persisted log after the fence, in timetick order, with continuous offsets', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0');
    await createCollection(wal, 'ps_bv0');
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => wal.append(note(i % 2 ? 'ps_av0' : 'ps_bv0', i))),
    );
    const maxTt = results.reduce((max, r) => (r.timeTick > max ? r.timeTick : max), 0n);
    const context = stack.context();
    await expect.poll(() => context.wab.lastTimeTick >= maxTt).toBe(true);
    const reader = context.wab.readFromExclusiveTimeTick(context.fence.timeTick)!;
    const fromWab: string[] = [];
    for (let i = context.wab.firstOffset + 1; i < context.wab.nextOffset; i++) {
      const next = await reader.next(AbortSignal.timeout(10_000));
      fromWab.push(next!.id.marshal());
    }
    const log = stored(stack).slice(1);
    const byTimeTick = [...log].sort((a, b) =>
      a.timeTick === b.timeTick ? a.id.compare(b.id) : a.timeTick < b.timeTick ? -1 : 1,
    );
    expect(fromWab).toEqual(byTimeTick.map((m) => m.id.marshal()));
    await stack.close();
  });

  it('closing a tailing scanner while its consumer waits ends the iteration; it is not an error', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0');
    await wal.append(note('ps_av0', 1));
    const scanner = await wal.read({ vchannel: 'ps_av0', deliverPolicy: DeliverPolicy.all() });
    // The TimeTick that released the note (delivered right after it) also moved the scanner onto the
    // write-ahead buffer, where the next read waits.
    let seenNote = false;
    for (;;) {
      const next = await scanner.next();
      if (next.done) throw new Error('the scanner ended early');
      if (next.value.messageType === Note.code) seenNote = true;
      else if (seenNote && isTick(next.value)) break;
    }
    const waiting = scanner.next();
    await scanner.close();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
    await expect(scanner.done).resolves.toBeUndefined();
    await wal.close();
    await stack.close();
  });

  it('is the timetick interceptor tail buffer; the interceptor declares it writes TimeTicks', async () => {
    const adapter = memoryAdapter();
    const impls = await (await adapter.build()).open({ channel: pchannel('hand', 1n) });
    const options = {};
    const params: InterceptorBuildParams = {
      channel: impls.channel,
      wal: () => new Promise<never>(() => undefined),
      allocator: new LocalTimestampAllocator(),
      shared: new SharedState(),
      catalog: new MemoryCatalog(),
      observability: noObservability,
      appendDirect: async (message) => message.intoImmutable(await impls.append(message)),
      readRaw: (readOptions) => impls.read(readOptions),
    };
    const built = [];
    for (const builder of walSemantics(options)) built.push(await builder.build(params));
    expect(built.map((interceptor) => interceptor.name)).toEqual(['redo', 'lock', 'timeTick', 'shard']);
    const tt = built[2]!;
    expect(tt.writesTimeTicks).toBe(true);
    const context = await SemanticsStack.of(params, options, resolveOptions(options, 'test'));
    expect(tt.tailBuffer).toBe(context.wab);
    // Built once for the WAL: one fencing tick, whatever the number of builders.
    expect(adapter.store.messages('hand').filter(isTick)).toHaveLength(1);
    // Another options object for the same WAL is a mistake the builders report.
    await expect(timeTick({}).build(params)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    for (const interceptor of built) await interceptor.close?.();
    await impls.close();
  });

  it('a read-only WAL writes nothing (no fence); its readers order by timetick and get txns whole', async () => {
    const gate = new StoreGate();
    const stack = await semanticsStack({}, { adapter: gate.adapter(memoryAdapter()) });
    const rw = await stack.open(1n);
    await rw.append(createVChannel('ps_av0'));
    // A before B in timetick order, B before A in the log: A waits in the store until B landed.
    const heldA = gate.hold((m) => m.properties.seq === '1');
    const a = rw.append(note('ps_av0', 1));
    await heldA.arrived;
    const b = await rw.append(note('ps_av0', 2));
    heldA.release();
    const aResult = await a;
    expect(aResult.messageId.compare(b.messageId)).toBeGreaterThan(0);
    const begin = await rw.append(beginTxnMessage('ps_av0'));
    await rw.append(inTxn(note('ps_av0', 3), begin.txn!));
    const commit = await rw.append(commitTxnMessage('ps_av0', begin.txn!));
    await rw.close();
    const before = stored(stack).length;
    const ro = await stack.opener.open({ channel: pchannel(PCHANNEL, 1n, 'ro') });
    expect(stored(stack)).toHaveLength(before);
    await expect(ro.append(note('ps_av0', 1))).rejects.toMatchObject({ code: 'READ_ONLY' });

    // The pass-through timeTick interceptor still declares TimeTicks: the reader orders by them.
    const delivered: ImmutableMessage[] = [];
    await using scanner = await ro.read({ vchannel: 'ps_av0', deliverPolicy: DeliverPolicy.all() });
    for await (const message of scanner) {
      if (isTick(message)) {
        if (message.timeTick >= commit.timeTick) break;
        continue;
      }
      delivered.push(message);
    }
    expect(delivered.map((m) => m.messageType)).toEqual([
      ShardMessageType.CreateVChannel,
      Note.code,
      Note.code,
      SystemMessageType.Txn,
    ]);
    expect(delivered.slice(1, 3).map((m) => m.timeTick)).toEqual([aResult.timeTick, b.timeTick]);
    await stack.close();
  });
});
