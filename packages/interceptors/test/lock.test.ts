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
import { shardMessages } from '@walstream/interceptors';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LockInterceptor } from '../src/lock/interceptor.js';
import { createCollection, isTick, note, semanticsStack, stored, timeTickViolations } from './support.js';

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
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    await createCollection(wal, 'ps_bv0', 2n);
    const faults = stack.adapter.store.faults('ps');
    faults.set({ appendDelayMs: 80 });
    const order: string[] = [];
    const slowA = wal.append(note('ps_av0', 1)).then(() => order.push('a'));
    faults.clear();
    const ddl = wal
      .append(shardMessages.createPartition('ps_av0', { collectionId: 1n, partitionId: 7n }))
      .then(() => order.push('ddl'));
    const otherVChannel = wal.append(note('ps_bv0', 2)).then(() => order.push('b'));
    await Promise.all([slowA, ddl, otherVChannel]);
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
      lock.doAppend(message, { ...context, signal: AbortSignal.timeout(2_000) }, async () => id);
    await expect(
      exclusive(shardMessages.createPartition('ps_av0', { collectionId: 1n, partitionId: 7n })),
    ).resolves.toBe(id);
    await expect(exclusive(newMessage(WalWide).allVChannels().build())).resolves.toBe(id);
  });

  it('a pchannel-wide exclusive message waits for everything in flight, and later appends wait for it', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    const faults = stack.adapter.store.faults('ps');
    faults.set({ appendDelayMs: 60 });
    const order: string[] = [];
    const first = wal.append(note('ps_av0', 1)).then(() => order.push('first'));
    faults.clear();
    const wide = wal.append(newMessage(WalWide).allVChannels().build()).then(() => order.push('wide'));
    const after = wal.append(note('ps_av0', 2)).then(() => order.push('after'));
    await Promise.all([first, wide, after]);
    expect(order).toEqual(['first', 'wide', 'after']);
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
