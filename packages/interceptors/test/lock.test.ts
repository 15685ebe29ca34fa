import { memoryAdapter } from '@walstream/adapter-memory';
import {
  defineMessageType,
  type ImmutableMessage,
  type MessageID,
  type MessageTypeDefinition,
  messageTypes,
  newMessage,
  pchannel,
} from '@walstream/core';
import type { AppendContext } from '@walstream/core/spi';
import { beginTxnMessage, inTxn, shardMessages } from '@walstream/interceptors';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LockInterceptor } from '../src/lock/interceptor.js';
import {
  createCollection,
  isTick,
  note,
  StoreGate,
  semanticsStack,
  settleOrder,
  stored,
  timeTickViolations,
  watchedSignal,
  within,
} from './support.js';

const WalWide: MessageTypeDefinition<unknown> =
  messageTypes.byName('SemanticsTestWalWide') ??
  defineMessageType({ name: 'SemanticsTestWalWide', code: 4202, flags: { exclusiveRequired: true } });

/** For each exclusive message: on its scope, id order and timetick order agree with every other message. */
function exclusiveViolations(log: readonly ImmutableMessage[]): string[] {
  const violations: string[] = [];
  const messages = log.filter((m) => !isTick(m));
  for (const e of messages) {
    if (!messageTypes.isExclusiveRequired(e.messageType)) continue;
    for (const m of messages) {
      if (m === e) continue;
      const inScope = e.vchannel === undefined || m.vchannel === undefined || m.vchannel === e.vchannel;
      if (!inScope) continue;
      const idBefore = m.id.compare(e.id) < 0;
      const ttBefore = m.timeTick < e.timeTick;
      if (idBefore !== ttBefore) violations.push(`${m.id.toString()} vs exclusive ${e.id.toString()}`);
    }
  }
  return violations;
}

describe('lock', () => {
  it('an exclusive message on a vchannel waits for the appends in flight there, not elsewhere', async () => {
    const gate = new StoreGate();
    const stack = await semanticsStack({}, { adapter: gate.adapter(memoryAdapter()) });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    await createCollection(wal, 'ps_bv0', 2n);
    const { order, track } = settleOrder();
    // A note on ps_av0 waits in the store, holding its vchannel's read lock.
    const heldA = gate.hold((m) => m.properties.seq === '1');
    const a = track('a', wal.append(note('ps_av0', 1)));
    await within(heldA.arrived, 'the note on ps_av0 to reach the store');
    const ddlWaits = watchedSignal();
    const ddl = track(
      'ddl',
      wal.append(shardMessages.createPartition('ps_av0', { collectionId: 1n, partitionId: 7n }), {
        signal: ddlWaits.signal,
      }),
    );
    await within(ddlWaits.waiting, 'the DDL to wait for a lock');
    // Another vchannel is not locked: its append lands while the note is still held.
    await track('b', wal.append(note('ps_bv0', 2)));
    heldA.release();
    await Promise.all([a, ddl]);
    expect(order).toEqual(['b', 'a', 'ddl']);
    expect(exclusiveViolations(stored(stack))).toEqual([]);
    await stack.close();
  });

  it('an inner step that throws instead of rejecting still releases the locks it ran under', async () => {
    const lock = new LockInterceptor('ps', undefined);
    const context: AppendContext = { channel: pchannel('ps', 1n), signal: undefined, result: {} };
    const throwing = (): Promise<MessageID> => {
      throw new Error('thrown, not rejected');
    };
    await expect(lock.doAppend(note('ps_av0', 1), context, throwing)).rejects.toThrow('thrown, not rejected');
    // Both an exclusive message on that vchannel and a pchannel-wide one must get their write lock now.
    const id = { walName: 'test' } as unknown as MessageID;
    const exclusive = (message: ReturnType<typeof note>) =>
      lock.doAppend(message, { ...context, signal: AbortSignal.timeout(10_000) }, async () => id);
    await expect(
      exclusive(shardMessages.createPartition('ps_av0', { collectionId: 1n, partitionId: 7n })),
    ).resolves.toBe(id);
    await expect(exclusive(newMessage(WalWide).allVChannels().build())).resolves.toBe(id);
  });

  it('a pchannel-wide exclusive message waits for everything in flight, and later appends wait for it', async () => {
    const gate = new StoreGate();
    const stack = await semanticsStack({}, { adapter: gate.adapter(memoryAdapter()) });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    const { order, track } = settleOrder();
    const heldFirst = gate.hold((m) => m.properties.seq === '1');
    const first = track('first', wal.append(note('ps_av0', 1)));
    await within(heldFirst.arrived, 'the first note to reach the store');
    const wideWaits = watchedSignal();
    const wide = track(
      'wide',
      wal.append(newMessage(WalWide).allVChannels().build(), { signal: wideWaits.signal }),
    );
    await within(wideWaits.waiting, 'the pchannel-wide message to wait for the WAL lock');
    const afterWaits = watchedSignal();
    const after = track('after', wal.append(note('ps_av0', 2), { signal: afterWaits.signal }));
    // A waiting writer holds back the readers that come after it.
    await within(afterWaits.waiting, 'the later note to wait behind the pchannel-wide message');
    heldFirst.release();
    await Promise.all([first, wide, after]);
    expect(order).toEqual(['first', 'wide', 'after']);
    await stack.close();
  });

  it('waiters are served in the order they reach the lock: appends called after a waiting exclusive one land after it', async () => {
    const gate = new StoreGate();
    const stack = await semanticsStack({}, { adapter: gate.adapter(memoryAdapter()) });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    const { order, track } = settleOrder();
    const heldNote = gate.hold((m) => m.properties.seq === '1');
    const held = track('note', wal.append(note('ps_av0', 1)));
    await within(heldNote.arrived, 'the note to reach the store');
    const flushWaits = watchedSignal();
    const flush = track(
      'flush',
      wal.append(shardMessages.manualFlush('ps_av0'), { signal: flushWaits.signal }),
    );
    await within(flushWaits.waiting, 'the ManualFlush to wait for its vchannel lock');
    const begin = track('begin', wal.append(beginTxnMessage('ps_av0')));
    heldNote.release();
    const [, flushed, begun] = await Promise.all([held, flush, begin]);
    expect(order).toEqual(['note', 'flush', 'begin']);
    expect(begun.timeTick).toBeGreaterThan(flushed.timeTick);
    // The txn began after the exclusive message: nothing crossed it.
    await expect(wal.append(inTxn(note('ps_av0', 2), begun.txn!))).resolves.toBeDefined();
    await stack.close();
  });

  it('reaching the lock is not call order: an exclusive append called just before a BeginTxn lands after it and fails the txn', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    // The BeginTxn takes its read locks at once; the ManualFlush takes the WAL-wide read lock first and
    // reaches its vchannel's lock a turn later, behind the begin.
    const flush = wal.append(shardMessages.manualFlush('ps_av0'));
    const begin = wal.append(beginTxnMessage('ps_av0'));
    const [flushed, begun] = await Promise.all([flush, begin]);
    expect(begun.timeTick).toBeLessThan(flushed.timeTick);
    expect(begun.messageId.compare(flushed.messageId)).toBeLessThan(0);
    await expect(wal.append(inTxn(note('ps_av0', 2), begun.txn!))).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    await stack.close();
  });

  it('property: under any mix of shared and exclusive appends, with faults, exclusive timetick order equals id order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'ddl-a', 'ddl-b', 'wide'), { minLength: 5, maxLength: 40 }),
        fc.double({ min: 0, max: 0.4, noNaN: true }),
        async (schedule, errorRate) => {
          const stack = await semanticsStack();
          const wal = await stack.open(1n);
          await createCollection(wal, 'ps_av0', 1n);
          await createCollection(wal, 'ps_bv0', 2n);
          stack.adapter.store.faults('ps').set({ appendErrorRate: errorRate });
          await Promise.all(
            schedule.map((kind, i) => {
              switch (kind) {
                case 'a':
                case 'b':
                  return wal.append(note(`ps_${kind}v0`, i));
                case 'ddl-a':
                case 'ddl-b': {
                  const vchannel = kind === 'ddl-a' ? 'ps_av0' : 'ps_bv0';
                  const collectionId = kind === 'ddl-a' ? 1n : 2n;
                  return wal.append(
                    shardMessages.createPartition(vchannel, { collectionId, partitionId: BigInt(i + 10) }),
                  );
                }
                default:
                  return wal.append(newMessage(WalWide).allVChannels().build());
              }
            }),
          );
          stack.adapter.store.faults('ps').clear();
          const log = stored(stack);
          expect(log.filter((m) => !isTick(m))).toHaveLength(schedule.length + 2);
          expect(exclusiveViolations(log)).toEqual([]);
          expect(timeTickViolations(log)).toEqual([]);
          await stack.close();
        },
      ),
      { numRuns: 25 },
    );
  });
});
