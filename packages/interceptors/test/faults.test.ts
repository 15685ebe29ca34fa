import { type AppendResult, type ImmutableTxnMessage, SystemMessageType } from '@walstream/core';
import {
  beginTxnMessage,
  commitTxnMessage,
  inTxn,
  rollbackTxnMessage,
  shardMessages,
} from '@walstream/interceptors';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createCollection,
  isTick,
  lastConfirmedViolations,
  note,
  orderedRead,
  PCHANNEL,
  semanticsStack,
  stored,
  timeTickViolations,
} from './support.js';

type Work =
  | { kind: 'note'; v: number }
  | { kind: 'txn'; v: number; bodies: number; commit: boolean }
  | { kind: 'insert'; v: number };

const workArb: fc.Arbitrary<Work> = fc.oneof(
  fc.record({ kind: fc.constant('note' as const), v: fc.nat(1) }),
  fc.record({ kind: fc.constant('insert' as const), v: fc.nat(1) }),
  fc.record({ kind: fc.constant('txn' as const), v: fc.nat(1), bodies: fc.nat(4), commit: fc.boolean() }),
);

describe('semantics under injected append faults', () => {
  it('property: durable results, TimeTick and LC contracts, whole txns for readers, exact resume from any message', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(workArb, { minLength: 1, maxLength: 25 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.nat(3),
        async (work, errorRate, lostAckRate, delayMs) => {
          const stack = await semanticsStack({ shard: { segment: { maxRows: 8 } } });
          const wal = await stack.open(1n);
          await createCollection(wal, 'ps_0v0', 1n);
          await createCollection(wal, 'ps_1v0', 2n);
          // Lost acknowledgements make the runtime's retry write a message twice: readers must see it once.
          stack.adapter.store
            .faults(PCHANNEL)
            .set({ appendErrorRate: errorRate, lostAckRate, appendDelayMs: delayMs });
          const results: AppendResult[] = [];
          const committed = new Map<bigint, number>();
          const rolledBack = new Set<bigint>();
          await Promise.all(
            work.map(async (item, i) => {
              const vchannel = `ps_${item.v}v0`;
              if (item.kind === 'note') results.push(await wal.append(note(vchannel, i)));
              else if (item.kind === 'insert') {
                results.push(
                  await wal.append(shardMessages.insert(vchannel, { rows: 1 + (i % 3) }, new Uint8Array(4))),
                );
              } else {
                const begin = await wal.append(beginTxnMessage(vchannel));
                results.push(begin);
                const bodies = await Promise.all(
                  Array.from({ length: item.bodies }, (_, b) =>
                    wal.append(inTxn(note(vchannel, i * 10 + b), begin.txn!)),
                  ),
                );
                results.push(...bodies);
                results.push(
                  await wal.append(
                    (item.commit ? commitTxnMessage : rollbackTxnMessage)(vchannel, begin.txn!),
                  ),
                );
                if (item.commit) committed.set(begin.txn!.txnId, item.bodies);
                else rolledBack.add(begin.txn!.txnId);
              }
            }),
          );
          stack.adapter.store.faults(PCHANNEL).clear();
          const maxTt = results.reduce((max, r) => (r.timeTick > max ? r.timeTick : max), 0n);
          await expect.poll(() => stored(stack).some((m) => isTick(m) && m.timeTick >= maxTt)).toBe(true);
          const log = stored(stack);

          // Every result is in the log exactly once.
          const ids = new Set(log.map((m) => m.id.marshal()));
          for (const result of results) expect(ids.has(result.messageId.marshal())).toBe(true);
          expect(timeTickViolations(log)).toEqual([]);
          expect(lastConfirmedViolations(log)).toEqual([]);

          // A reader sees committed txns whole, never a rolled-back one, never a txn body on its own.
          const delivered = orderedRead(log);
          const txnsSeen = delivered.filter(
            (m) => m.messageType === SystemMessageType.Txn,
          ) as ImmutableTxnMessage[];
          expect(new Map(txnsSeen.map((t) => [t.begin.txnContext!.txnId, t.bodies.length]))).toEqual(
            committed,
          );
          expect(delivered.some((m) => m.txnContext && m.messageType !== SystemMessageType.Txn)).toBe(false);
          for (const id of rolledBack)
            expect(txnsSeen.some((t) => t.begin.txnContext!.txnId === id)).toBe(false);
          const tts = delivered.map((m) => m.timeTick);
          expect([...tts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(tts);
          // Each acknowledged append is delivered once, however often it landed.
          expect(new Set(tts).size).toBe(tts.length);
          for (const result of results) if (!result.txn) expect(tts).toContain(result.timeTick);

          // Resume from any delivered message: exactly the rest, no gap, no duplicate.
          for (const from of delivered) {
            const rest = orderedRead(log, from.lastConfirmedId, from.timeTick).map((m) => m.id.marshal());
            expect(rest).toEqual(
              delivered.filter((m) => m.timeTick > from.timeTick).map((m) => m.id.marshal()),
            );
          }
          await stack.close();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('a newer term fences the old WAL: its appends fail CHANNEL_FENCED, its ticks stop, close is clean', async () => {
    const stack = await semanticsStack();
    const old = await stack.open(1n);
    await createCollection(old, 'ps_av0', 1n);
    const oldContext = stack.context();
    const next = await stack.open(2n);
    await expect(old.append(note('ps_av0', 1))).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    expect(old.state).toBe('fenced');
    await expect(next.append(note('ps_av0', 2))).resolves.toBeDefined();
    const logLength = stored(stack).length;
    await old.close();
    // The old term wrote nothing after its fence, not even a final tick.
    expect(stored(stack).slice(logLength)).toEqual([]);
    expect(oldContext.wab.size).toBe(0);
    await stack.close();
  });
});
