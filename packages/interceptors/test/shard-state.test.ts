import {
  type ImmutableMessage,
  newMessage,
  pchannel,
  SystemMessageType,
  type TxnContext,
} from '@walstream/core';
import {
  beginTxnMessage,
  commitTxnMessage,
  createVChannel,
  dropVChannel,
  inTxn,
  rollbackTxnMessage,
  ShardMessageType,
  shardHeaders,
  shardMessages,
} from '@walstream/interceptors';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { replayToFence } from '../src/recovery/replay.js';
import { RecoveryTxnBuffer } from '../src/recovery/txn-buffer.js';
import { ShardState, type ShardStateJson } from '../src/shard/state.js';
import { PCHANNEL, type Stack, semanticsStack, stored } from './support.js';

type Op =
  | { kind: 'createVChannel' | 'dropVChannel' | 'createCollection' | 'dropCollection' | 'flush'; v: number }
  | { kind: 'createPartition' | 'dropPartition'; v: number; p: number }
  | { kind: 'insert'; v: number; p: number; rows: number }
  | { kind: 'begin'; v: number }
  | { kind: 'txnInsert'; t: number; rows: number }
  | { kind: 'commit' | 'rollback'; t: number }
  | { kind: 'txn'; v: number; inserts: readonly number[]; commit: boolean };

const v = fc.nat(3);
const rows = fc.integer({ min: 1, max: 4 });
/** Weighted so that schedules mostly do what a user would: inserts and txns on live vchannels, drops rarely. */
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('insert' as const), v, p: fc.nat(1), rows }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('begin' as const), v }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('txnInsert' as const), t: fc.nat(), rows }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constantFrom('commit' as const, 'rollback' as const), t: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('txn' as const),
      v,
      inserts: fc.array(rows, { minLength: 1, maxLength: 3 }),
      commit: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flush' as const), v }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('createVChannel' as const, 'createCollection' as const),
      v,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('createPartition' as const, 'dropPartition' as const),
      v,
      p: fc.nat(1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constantFrom('dropVChannel' as const, 'dropCollection' as const), v }),
  },
);
/** Every schedule starts with a vchannel of each kind, so most of what follows has somewhere to land. */
const PREFIX: Op[][] = [
  [
    { kind: 'createCollection', v: 0 },
    { kind: 'createVChannel', v: 1 },
    { kind: 'createCollection', v: 2 },
  ],
];

/** A schedule that lands every interesting kind, checked first on every run of the property. */
const EVERY_KIND: Op[][] = [
  [{ kind: 'insert', v: 0, p: 0, rows: 4 }],
  [{ kind: 'insert', v: 0, p: 0, rows: 4 }],
  [{ kind: 'txn', v: 0, inserts: [1, 1], commit: true }],
  [{ kind: 'insert', v: 2, p: 0, rows: 1 }],
  [{ kind: 'flush', v: 2 }],
  [{ kind: 'insert', v: 2, p: 1, rows: 1 }],
  [{ kind: 'dropCollection', v: 2 }],
  [{ kind: 'dropVChannel', v: 1 }],
];

/** Refusals a random schedule runs into; anything else is a bug. */
const REFUSALS = [
  'VCHANNEL_NOT_FOUND',
  'VCHANNEL_DROPPED',
  'UNRECOVERABLE',
  'INVALID_ARGUMENT',
  'TRANSACTION_EXPIRED',
  'INVALID_TRANSACTION_STATE',
];

/** What landed in the log, by kind, so the property can tell that it saw the interesting cases. */
const INTERESTING = [
  'createVChannel',
  'dropVChannel',
  'createCollection',
  'dropCollection',
  'createSegment',
  'flush',
  'manualFlushOfSegments',
  'committedTxnInsert',
  'droppedWithSegments',
] as const;

function landedKinds(log: readonly ImmutableMessage[]): Set<(typeof INTERESTING)[number]> {
  const kinds = new Set<(typeof INTERESTING)[number]>();
  const committed = new Set(
    log.filter((m) => m.messageType === SystemMessageType.CommitTxn).map((m) => m.txnContext!.txnId),
  );
  const segmentsOf = new Map<string, number>();
  for (const message of log) {
    switch (message.messageType) {
      case ShardMessageType.CreateVChannel:
        kinds.add('createVChannel');
        break;
      case ShardMessageType.DropVChannel:
      case ShardMessageType.DropCollection:
        kinds.add(message.messageType === ShardMessageType.DropVChannel ? 'dropVChannel' : 'dropCollection');
        if ((segmentsOf.get(message.vchannel!) ?? 0) > 0) kinds.add('droppedWithSegments');
        break;
      case ShardMessageType.CreateCollection:
        kinds.add('createCollection');
        break;
      case ShardMessageType.CreateSegment:
        kinds.add('createSegment');
        segmentsOf.set(message.vchannel!, (segmentsOf.get(message.vchannel!) ?? 0) + 1);
        break;
      case ShardMessageType.Flush:
        kinds.add('flush');
        break;
      case ShardMessageType.ManualFlush:
        if ((shardHeaders.manualFlush(message).segmentIds ?? []).length > 0)
          kinds.add('manualFlushOfSegments');
        break;
      case ShardMessageType.Insert:
        if (message.txnContext && committed.has(message.txnContext.txnId)) kinds.add('committedTxnInsert');
        break;
    }
  }
  return kinds;
}

/** Replays the whole stored log into a fresh state with recovery's replay (up to a fence written last). */
async function replayOfLog(stack: Stack): Promise<ShardStateJson> {
  const impls = await (await stack.adapter.build()).open({ channel: pchannel(PCHANNEL, 99n) });
  try {
    const tick = newMessage(SystemMessageType.TimeTick)
      .allVChannels()
      .build()
      .withTimeTick(1n << 62n)
      .withLastConfirmedUseMessageId();
    const fence = tick.intoImmutable(await impls.append(tick));
    const state = new ShardState();
    await replayToFence({
      readRaw: (options) => impls.read(options),
      name: 'replay-of-log',
      from: undefined,
      checkpointTimeTick: -1n,
      fence,
      state,
      txns: new RecoveryTxnBuffer({ failOnExclusive: { pchannel: PCHANNEL } }),
      readAhead: 64,
    });
    expect(state.inconsistencies).toBe(0);
    return state.toJSON();
  } finally {
    await impls.close();
  }
}

describe('shard state: one apply for the live WAL, the checkpoint and replay', () => {
  it('property: the live shard, the checkpointed state and a replay of the log agree after any schedule', async () => {
    const seen = new Set<(typeof INTERESTING)[number]>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 3, maxLength: 15 }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        async (batches, appendErrorRate, lostAckRate) => {
          const stack = await semanticsStack({
            shard: { segment: { maxRows: 6 } },
            timeTick: { closeTimeoutMs: 1_000 },
          });
          const wal = await stack.open(1n);
          stack.adapter.store.faults(PCHANNEL).set({ appendErrorRate, lostAckRate });
          const txns: { vchannel: string; txn: TxnContext }[] = [];
          const run = async (op: Op): Promise<unknown> => {
            if ('v' in op) {
              const vchannel = `ps_${op.v}v0`;
              const collectionId = BigInt(op.v + 1);
              switch (op.kind) {
                case 'createVChannel':
                  return wal.append(createVChannel(vchannel));
                case 'dropVChannel':
                  return wal.append(dropVChannel(vchannel));
                case 'createCollection':
                  return wal.append(
                    shardMessages.createCollection(vchannel, { collectionId, partitionIds: [0n, 1n] }),
                  );
                case 'dropCollection':
                  return wal.append(shardMessages.dropCollection(vchannel, { collectionId }));
                case 'flush':
                  return wal.append(shardMessages.manualFlush(vchannel));
                case 'createPartition':
                case 'dropPartition':
                  return wal.append(
                    shardMessages[op.kind](vchannel, { collectionId, partitionId: BigInt(op.p) }),
                  );
                case 'insert':
                  return wal.append(
                    shardMessages.insert(
                      vchannel,
                      { rows: op.rows, partitionId: BigInt(op.p) },
                      new Uint8Array(3),
                    ),
                  );
                case 'begin': {
                  const begin = await wal.append(beginTxnMessage(vchannel, { keepaliveMs: 600_000 }));
                  txns.push({ vchannel, txn: begin.txn! });
                  return begin;
                }
                case 'txn': {
                  const { txn } = await wal.append(beginTxnMessage(vchannel, { keepaliveMs: 600_000 }));
                  for (const count of op.inserts)
                    await wal.append(inTxn(shardMessages.insert(vchannel, { rows: count }), txn!));
                  return wal.append((op.commit ? commitTxnMessage : rollbackTxnMessage)(vchannel, txn!));
                }
              }
            }
            // Mostly one of the latest txns, so a txn's messages tend to follow one another.
            const chosen = txns[txns.length - 1 - (op.t % 3)];
            if (!chosen) return undefined;
            if (op.kind === 'txnInsert') {
              return wal.append(inTxn(shardMessages.insert(chosen.vchannel, { rows: op.rows }), chosen.txn));
            }
            return wal.append(
              (op.kind === 'commit' ? commitTxnMessage : rollbackTxnMessage)(chosen.vchannel, chosen.txn),
            );
          };
          for (const batch of [...PREFIX, ...batches]) {
            await Promise.all(
              batch.map((op) =>
                run(op).catch((error: unknown) => {
                  expect(REFUSALS).toContain((error as { code?: string }).code);
                }),
              ),
            );
          }
          stack.adapter.store.faults(PCHANNEL).clear();
          const context = stack.context();
          // A Flush the WAL is still writing when it closes may land without the WAL learning it did (the
          // close gives up on it as "may have landed"): the next term's replay applies it, the closing WAL
          // never does. So let every Flush that can be written land first; a sealed segment that waits
          // for an open txn is not flushed before the close.
          await expect
            .poll(() =>
              context.shard
                .segments()
                .every((segment) => segment.state === 'growing' || segment.txns.size > 0),
            )
            .toBe(true);
          // Closing stops the segment workers and covers everything that landed with a last TimeTick.
          await wal.close();
          const live = context.shard.state.toJSON();
          expect(context.shard.state.inconsistencies).toBe(0);
          expect(context.recovery.state.toJSON()).toEqual(live);
          expect(await replayOfLog(stack)).toEqual(live);
          for (const kind of landedKinds(stored(stack))) seen.add(kind);
          await stack.close();
        },
      ),
      { numRuns: 40, examples: [[EVERY_KIND, 0, 0]] },
    );
    // The schedules reached what could drift: creates, drops, segments, flushes, txns.
    expect([...seen].sort()).toEqual([...INTERESTING].sort());
  });
});
