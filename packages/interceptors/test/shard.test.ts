import { memoryAdapter } from '@walstream/adapter-memory';
import { type ImmutableMessage, newMessage, SystemMessageType } from '@walstream/core';
import type { InterceptorBuilder } from '@walstream/core/spi';
import {
  beginTxnMessage,
  commitTxnMessage,
  createVChannel,
  dropVChannel,
  inTxn,
  ShardMessageType,
  shardHeaders,
  shardMessages,
} from '@walstream/interceptors';
import { describe, expect, it } from 'vitest';
import { walShardMessages } from '../src/shard/messages.js';
import {
  createCollection,
  isTick,
  ManualClock,
  note,
  StoreGate,
  semanticsStack,
  stored,
  watchedSignal,
} from './support.js';

const ofType = (log: readonly ImmutableMessage[], type: number) => log.filter((m) => m.messageType === type);
const insert = (vchannel: string, rows: number, partitionId?: bigint) =>
  shardMessages.insert(vchannel, { rows, partitionId }, new Uint8Array(16));

describe('shard: vchannel lifecycle', () => {
  it('an append to a vchannel never created fails VCHANNEL_NOT_FOUND, not retriable, saying to create it first', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    for (const message of [note('ps_xv0', 1), beginTxnMessage('ps_xv0'), dropVChannel('ps_xv0')]) {
      await expect(wal.append(message)).rejects.toMatchObject({
        code: 'VCHANNEL_NOT_FOUND',
        retriable: false,
        message: "vchannel ps_xv0 does not exist on pchannel ps: append createVChannel('ps_xv0') first",
        details: { pchannel: 'ps', vchannel: 'ps_xv0' },
      });
    }
    await stack.close();
  });

  it('createVChannel makes a vchannel that takes plain messages and txns; Milvus data messages need a collection', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    const created = await wal.append(createVChannel('ps_av0'));
    expect(created.extra).toEqual({ created: true });
    await wal.append(note('ps_av0', 1));
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    await wal.append(inTxn(note('ps_av0', 2), begin.txn!));
    await wal.append(commitTxnMessage('ps_av0', begin.txn!));
    await expect(wal.append(insert('ps_av0', 1))).rejects.toMatchObject({
      code: 'UNRECOVERABLE',
      details: { vchannel: 'ps_av0', reason: 'collection-not-found' },
    });
    expect(stack.context().shard.vchannel('ps_av0')).toMatchObject({
      state: 'normal',
      collectionId: undefined,
      fenceTimeTick: created.timeTick,
    });
    await stack.close();
  });

  it('dropVChannel ends a vchannel for good: later appends, creates and drops fail VCHANNEL_DROPPED; its txns end', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await wal.append(createVChannel('ps_av0'));
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    await wal.append(dropVChannel('ps_av0'));
    for (const message of [
      note('ps_av0', 2),
      createVChannel('ps_av0'),
      dropVChannel('ps_av0'),
      shardMessages.createCollection('ps_av0', { collectionId: 1n }),
    ]) {
      await expect(wal.append(message)).rejects.toMatchObject({
        code: 'VCHANNEL_DROPPED',
        retriable: false,
        details: { pchannel: 'ps', vchannel: 'ps_av0' },
      });
    }
    // The drop is exclusive on its vchannel: a txn open there cannot straddle it.
    await expect(wal.append(commitTxnMessage('ps_av0', begin.txn!))).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    await stack.close();
  });

  it('creating an existing vchannel is written and changes nothing (extra.created false); its open txns go on', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    const first = await wal.append(createVChannel('ps_av0'));
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    const again = await wal.append(createVChannel('ps_av0'));
    expect(again.extra).toEqual({ created: false });
    expect(stack.context().shard.vchannel('ps_av0')!.fenceTimeTick).toBe(first.timeTick);
    await expect(wal.append(commitTxnMessage('ps_av0', begin.txn!))).resolves.toBeDefined();
    await stack.close();
  });

  it('concurrent creates of one vchannel: one creates it, at the lowest timetick of them all', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    const results = await Promise.all(Array.from({ length: 8 }, () => wal.append(createVChannel('ps_av0'))));
    expect(results.filter((result) => result.extra?.created === true)).toHaveLength(1);
    const winner = results.find((result) => result.extra?.created === true)!;
    const creates = ofType(stored(stack), ShardMessageType.CreateVChannel);
    expect(creates).toHaveLength(8);
    // In timetick order (a reader's, and replay's) the create that made the vchannel comes first.
    expect(creates.every((message) => message.timeTick >= winner.timeTick)).toBe(true);
    expect(stack.context().shard.vchannel('ps_av0')!.fenceTimeTick).toBe(winner.timeTick);
    await stack.close();
  });

  it("Milvus's CreateCollection creates the vchannel, or joins one made by createVChannel; DropCollection drops it", async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    await wal.append(insert('ps_av0', 1));
    await wal.append(createVChannel('ps_bv0'));
    await createCollection(wal, 'ps_bv0', 2n);
    await expect(wal.append(insert('ps_bv0', 1))).resolves.toBeDefined();
    expect(stack.context().shard.vchannel('ps_bv0')).toMatchObject({ collectionId: 2n, state: 'normal' });
    await wal.append(shardMessages.dropCollection('ps_av0', { collectionId: 1n }));
    await expect(wal.append(note('ps_av0', 1))).rejects.toMatchObject({ code: 'VCHANNEL_DROPPED' });
    expect(
      stack
        .context()
        .shard.segments()
        .every((segment) => segment.vchannel !== 'ps_av0'),
    ).toBe(true);
    await stack.close();
  });

  it('a repeated CreateCollection of the same collection is accepted; of another collection it is INVALID_ARGUMENT', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    await expect(createCollection(wal, 'ps_av0', 1n)).resolves.toBeDefined();
    await expect(createCollection(wal, 'ps_av0', 2n)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      wal.append(shardMessages.dropCollection('ps_av0', { collectionId: 9n })),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await stack.close();
  });

  it('requireVChannel: false admits plain messages on unknown vchannels, never shard types or dropped ones', async () => {
    const stack = await semanticsStack({ shard: { requireVChannel: false } });
    const wal = await stack.open(1n);
    await expect(wal.append(note('ps_freev0', 1))).resolves.toBeDefined();
    await expect(wal.append(insert('ps_freev0', 1))).rejects.toMatchObject({ code: 'VCHANNEL_NOT_FOUND' });
    await wal.append(createVChannel('ps_av0'));
    await wal.append(dropVChannel('ps_av0'));
    await expect(wal.append(note('ps_av0', 1))).rejects.toMatchObject({ code: 'VCHANNEL_DROPPED' });
    await stack.close();
  });

  it('users may not append the WAL own types', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    const forged = [
      walShardMessages.createSegment('ps_av0', {
        collectionId: 1n,
        partitionId: 0n,
        segmentId: 5n,
        maxRows: 1,
        maxBytes: 1,
      }),
      walShardMessages.flush('ps_av0', { collectionId: 1n, partitionId: 0n, segmentId: 5n }),
      newMessage(SystemMessageType.TimeTick).allVChannels().build(),
    ];
    for (const message of forged)
      await expect(wal.append(message)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await stack.close();
  });
});

describe('shard: segments', () => {
  it('the first insert makes the WAL write a CreateSegment, then lands in that segment (redo is invisible)', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    const results = await Promise.all(Array.from({ length: 30 }, () => wal.append(insert('ps_av0', 2))));
    const log = stored(stack);
    const creates = ofType(log, ShardMessageType.CreateSegment);
    expect(creates).toHaveLength(1);
    const inserts = ofType(log, ShardMessageType.Insert);
    expect(inserts).toHaveLength(30);
    for (const message of inserts) {
      expect(shardHeaders.insert(message).segmentId).toBeDefined();
      expect(message.id.compare(creates[0]!.id)).toBeGreaterThan(0);
      expect(message.timeTick).toBeGreaterThan(creates[0]!.timeTick);
    }
    expect(new Set(results.map((r) => r.timeTick)).size).toBe(30);
    expect(stack.context().shard.segments()).toHaveLength(1);
    expect(stack.context().shard.segments()[0]!.rows).toBe(60);
    await stack.close();
  });

  it('seals by rows: a full segment is flushed by the WAL and a new one created', async () => {
    const stack = await semanticsStack({ shard: { segment: { maxRows: 10 } } });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    for (let i = 0; i < 3; i++) await wal.append(insert('ps_av0', 4));
    await expect.poll(() => ofType(stored(stack), ShardMessageType.Flush).length).toBe(1);
    const log = stored(stack);
    const segmentOf = (m: ImmutableMessage) => shardHeaders.insert(m).segmentId;
    const inserts = ofType(log, ShardMessageType.Insert);
    expect(segmentOf(inserts[0]!)).toBe(segmentOf(inserts[1]!));
    expect(segmentOf(inserts[2]!)).not.toBe(segmentOf(inserts[0]!));
    expect(ofType(log, ShardMessageType.CreateSegment)).toHaveLength(2);
    const flush = ofType(log, ShardMessageType.Flush)[0]!;
    expect(flush.id.compare(inserts[1]!.id)).toBeGreaterThan(0);
    await stack.close();
  });

  it('seals by bytes and by age', async () => {
    const clock = new ManualClock();
    const stack = await semanticsStack(
      { now: clock.now, shard: { segment: { maxBytes: 40, maxAgeMs: 1_000, checkIntervalMs: 5 } } },
      { clock },
    );
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    await wal.append(shardMessages.insert('ps_av0', { rows: 1, binarySize: 40 }));
    await expect.poll(() => ofType(stored(stack), ShardMessageType.Flush).length).toBe(1);
    await wal.append(insert('ps_av0', 1));
    expect(ofType(stored(stack), ShardMessageType.Flush)).toHaveLength(1);
    clock.advance(1_000);
    await expect.poll(() => ofType(stored(stack), ShardMessageType.Flush).length).toBe(2);
    await stack.close();
  });

  it('rejects an insert larger than a segment, and inserts to a partition that does not exist', async () => {
    const stack = await semanticsStack({ shard: { segment: { maxRows: 10 } } });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n, [0n, 1n]);
    await expect(wal.append(insert('ps_av0', 11))).rejects.toMatchObject({
      code: 'UNRECOVERABLE',
      details: { reason: 'insert-too-large' },
    });
    await expect(wal.append(insert('ps_av0', 1, 7n))).rejects.toMatchObject({
      code: 'UNRECOVERABLE',
      details: { reason: 'partition-not-found' },
    });
    await wal.append(shardMessages.createPartition('ps_av0', { collectionId: 1n, partitionId: 7n }));
    await expect(wal.append(insert('ps_av0', 1, 7n))).resolves.toBeDefined();
    await wal.append(shardMessages.dropPartition('ps_av0', { collectionId: 1n, partitionId: 7n }));
    await expect(wal.append(insert('ps_av0', 1, 7n))).rejects.toMatchObject({
      details: { reason: 'partition-not-found' },
    });
    expect(
      stack
        .context()
        .shard.segments()
        .every((s) => s.partitionId !== 7n),
    ).toBe(true);
    await stack.close();
  });

  it('ManualFlush seals the growing segments and returns their ids; later inserts get a new segment', async () => {
    const stack = await semanticsStack();
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n, [0n, 1n]);
    const a = await wal.append(insert('ps_av0', 1, 0n));
    await wal.append(insert('ps_av0', 1, 1n));
    const segmentIds = stack
      .context()
      .shard.segments()
      .map((s) => s.segmentId);
    const flush = await wal.append(shardMessages.manualFlush('ps_av0'));
    expect([...(flush.extra?.segmentIds as bigint[])].sort()).toEqual([...segmentIds].sort());
    const written = ofType(stored(stack), ShardMessageType.ManualFlush)[0]!;
    expect(shardHeaders.manualFlush(written)).toMatchObject({ collectionId: 1n, flushTs: flush.timeTick });
    expect(stack.context().shard.segments()).toHaveLength(0);
    const after = await wal.append(insert('ps_av0', 1, 0n));
    const segmentOf = (id: typeof a.messageId) =>
      shardHeaders.insert(stored(stack).find((m) => m.id.compare(id) === 0)!).segmentId;
    expect(segmentOf(after.messageId)).not.toBe(segmentOf(a.messageId));
    expect(ofType(stored(stack), ShardMessageType.Flush)).toHaveLength(0);
    await stack.close();
  });

  it('a sealed segment is flushed only after the txns with rows in it ended', async () => {
    const stack = await semanticsStack({ shard: { segment: { maxRows: 5 } } });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    await wal.append(inTxn(insert('ps_av0', 5), begin.txn!));
    const segment = stack.context().shard.segments()[0]!;
    expect(segment.state).toBe('sealed');
    // Time moves and other appends land; the Flush still waits for the txn.
    const marker = await wal.append(note('ps_av0', 1));
    await expect.poll(() => stored(stack).some((m) => isTick(m) && m.timeTick >= marker.timeTick)).toBe(true);
    expect(ofType(stored(stack), ShardMessageType.Flush)).toHaveLength(0);
    const commit = await wal.append(commitTxnMessage('ps_av0', begin.txn!));
    await expect.poll(() => ofType(stored(stack), ShardMessageType.Flush).length).toBe(1);
    expect(ofType(stored(stack), ShardMessageType.Flush)[0]!.id.compare(commit.messageId)).toBeGreaterThan(0);
    await stack.close();
  });
});

/** Counts the runs of the inner chain (between redo and lock) for Inserts: one per redo rerun. */
function insertRuns(): { builder: InterceptorBuilder; readonly count: number } {
  let count = 0;
  return {
    builder: {
      name: 'count-insert-runs',
      build: async () => ({
        name: 'count-insert-runs',
        doAppend: (message, context, next) => {
          if (message.messageType === ShardMessageType.Insert) count++;
          return next(message, context);
        },
      }),
    },
    get count() {
      return count;
    },
  };
}

describe('redo', () => {
  it('an Insert that needs a segment on a WAL a newer term fenced fails CHANNEL_FENCED after one run', async () => {
    const runs = insertRuns();
    const stack = await semanticsStack({}, {}, { insideRedo: [runs.builder] });
    const old = await stack.open(1n);
    await createCollection(old, 'ps_av0', 1n);
    await stack.open(2n);
    // The segment the insert waits for can never be created on the fenced WAL: that is the answer.
    await expect(old.append(insert('ps_av0', 1))).rejects.toMatchObject({
      code: 'CHANNEL_FENCED',
      retriable: false,
    });
    expect(runs.count).toBe(1);
    await expect(old.append(insert('ps_av0', 1))).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    await stack.close();
  });

  it('a redo that runs out of attempts reports a permanent cause as such, not UNAVAILABLE', async () => {
    const stack = await semanticsStack({ redo: { maxAttempts: 1 } });
    const old = await stack.open(1n);
    await createCollection(old, 'ps_av0', 1n);
    await stack.open(2n);
    await expect(old.append(insert('ps_av0', 1))).rejects.toMatchObject({
      code: 'CHANNEL_FENCED',
      retriable: false,
    });
    await stack.close();
  });

  it('gives up after maxAttempts reruns with UNAVAILABLE', async () => {
    const stack = await semanticsStack({ redo: { maxAttempts: 1 } });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    await expect(wal.append(insert('ps_av0', 1))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await stack.close();
  });

  it('a wait for a new segment ends with ABORTED on the append signal and CLOSED, not retriable, on close', async () => {
    const gate = new StoreGate();
    const stack = await semanticsStack({}, { adapter: gate.adapter(memoryAdapter()) });
    const wal = await stack.open(1n);
    await createCollection(wal, 'ps_av0', 1n);
    // The CreateSegment stays in the store until released: the inserts wait for their segment meanwhile.
    const create = gate.hold((m) => m.messageType === ShardMessageType.CreateSegment);
    const first = watchedSignal();
    const aborted = wal.append(insert('ps_av0', 1), { signal: first.signal });
    await first.waiting;
    first.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    const second = watchedSignal();
    const closing = wal.append(insert('ps_av0', 1), { signal: second.signal });
    await second.waiting;
    const closed = wal.close();
    create.release();
    // The WAL's owner closed it, and the insert was never written: CLOSED, which no retry can fix.
    await expect(closing).rejects.toMatchObject({ code: 'CLOSED', retriable: false });
    await closed;
    expect(ofType(stored(stack), ShardMessageType.Insert)).toHaveLength(0);
    await stack.close();
  });
});
