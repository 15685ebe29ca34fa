import { composeTimeTick, ImmutableMessage, MemoryCatalog, type MessageID, Registry } from '@walstream/core';
import {
  encodeTxnContext,
  ImmutableTxnMessageBuilder,
  ReorderBuffer,
  TxnBuffer,
} from '@walstream/core/internal';
import { encodeBase36 } from '@walstream/core/spi';
import { describe, expect, it } from 'vitest';

class Seq implements MessageID {
  readonly walName = 'ordering-test';
  constructor(readonly value: number) {}
  compare(other: MessageID): number {
    return this.value - (other as Seq).value;
  }
  marshal(): string {
    return String(this.value);
  }
  toString(): string {
    return `ordering-test:${this.value}`;
  }
}

/** A message as read from the log: id, timetick, writer term, type and txn. */
function read(
  id: number,
  timeTick: bigint,
  extra: { term?: string; type?: number; txn?: bigint; keepaliveMs?: number; seq?: string } = {},
): ImmutableMessage {
  const props: Record<string, string> = {
    _t: String(extra.type ?? 4171),
    _tt: encodeBase36(timeTick),
    _wt: extra.term ?? '1',
    seq: extra.seq ?? String(id),
  };
  if (extra.txn !== undefined) {
    props._tx = encodeTxnContext({ txnId: extra.txn, keepaliveMs: extra.keepaliveMs ?? 1_000 });
  }
  return new ImmutableMessage(new Seq(id), new Uint8Array(), props);
}

const seqs = (messages: readonly ImmutableMessage[]) => messages.map((m) => m.properties.seq);

describe('ReorderBuffer', () => {
  it('releases by timetick, and at one timetick by writer term', () => {
    const buffer = new ReorderBuffer();
    buffer.push(read(1, 20n, { seq: 'b' }));
    buffer.push(read(2, 10n, { term: '2', seq: 't2' }));
    buffer.push(read(3, 10n, { term: '1', seq: 't1' }));
    expect(seqs(buffer.popUntil(15n))).toEqual(['t1', 't2']);
    expect(buffer.lastReleased).toBe(15n);
    expect(seqs(buffer.popUntil(20n))).toEqual(['b']);
  });

  it('refuses what is older than the last release, takes what is equal to it', () => {
    const buffer = new ReorderBuffer();
    buffer.popUntil(10n);
    expect(buffer.push(read(1, 9n))).toBe(false);
    expect(buffer.push(read(2, 10n))).toBe(true);
    expect(seqs(buffer.popUntil(10n))).toEqual(['2']);
  });

  it('a release below the last one does not move it back', () => {
    const buffer = new ReorderBuffer();
    buffer.popUntil(10n);
    buffer.popUntil(5n);
    expect(buffer.lastReleased).toBe(10n);
    expect(buffer.push(read(1, 7n))).toBe(false);
  });

  it('copies of one append (same timetick and term) are held once; the later-written copy is kept', () => {
    const buffer = new ReorderBuffer();
    expect(buffer.push(read(5, 10n, { seq: 'second' }))).toBe(true);
    expect(buffer.push(read(3, 10n, { seq: 'first' }))).toBe(false);
    expect(buffer.push(read(7, 10n, { seq: 'third' }))).toBe(false);
    const released = buffer.popUntil(10n);
    expect(released.map((m) => (m.id as Seq).value)).toEqual([7]);
  });
});

describe('TxnBuffer', () => {
  const BEGIN = 900;
  const COMMIT = 901;

  it('a begin written twice (a retried append) keeps the bodies collected after the first', () => {
    const buffer = new TxnBuffer();
    const out = buffer.handle(
      [
        read(1, 10n, { type: BEGIN, txn: 7n }),
        read(2, 11n, { txn: 7n, seq: 'body' }),
        read(3, 10n, { type: BEGIN, txn: 7n }),
        read(4, 12n, { type: COMMIT, txn: 7n }),
      ],
      composeTimeTick(0),
    );
    expect(out).toHaveLength(1);
    expect(seqs((out[0] as unknown as { bodies: ImmutableMessage[] }).bodies)).toEqual(['body']);
  });

  it('an idle txn expires when the tick reaches its last activity plus keepalive, not before', () => {
    const begin = composeTimeTick(1_000);
    const body = composeTimeTick(1_500);
    const older = composeTimeTick(1_200);
    const batch = [
      read(1, begin, { type: BEGIN, txn: 8n, keepaliveMs: 100 }),
      read(2, body, { txn: 8n }),
      // A body with an older timetick does not take the last activity back.
      read(3, older, { txn: 8n }),
    ];
    const alive = new TxnBuffer();
    alive.handle(batch, composeTimeTick(1_600) - 1n);
    expect(alive.handle([read(4, composeTimeTick(1_601), { type: COMMIT, txn: 8n })], 0n)).toHaveLength(1);
    const expired = new TxnBuffer();
    expired.handle(batch, composeTimeTick(1_600));
    expect(expired.handle([read(4, composeTimeTick(1_601), { type: COMMIT, txn: 8n })], 0n)).toEqual([]);
  });
});

describe('ImmutableTxnMessageBuilder', () => {
  it('starts only from a BeginTxn with a txn context, and builds only from a CommitTxn', () => {
    expect(() => new ImmutableTxnMessageBuilder(read(1, 10n, { txn: 9n }))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => new ImmutableTxnMessageBuilder(read(1, 10n, { type: 900 }))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    const builder = new ImmutableTxnMessageBuilder(read(1, 10n, { type: 900, txn: 9n }));
    expect(() => builder.build(read(2, 11n, { type: 902, txn: 9n }))).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: 'a txn is built from its CommitTxn message',
      }),
    );
    expect(builder.build(read(3, 12n, { type: 901, txn: 9n })).commit.id.compare(new Seq(3))).toBe(0);
  });
});

describe('MemoryCatalog', () => {
  const meta = (name: string, term: bigint) => ({
    channel: { name, term, accessMode: 'rw' as const },
    state: 'assigned' as const,
    nodeId: 'n1',
    history: [],
  });
  const task = (broadcastId: bigint) => ({
    broadcastId,
    state: 'pending' as const,
    message: { payload: new Uint8Array(), properties: {} },
    acked: [],
  });

  it('lists pchannels by name and broadcast tasks by id; a save replaces by key', async () => {
    const catalog = new MemoryCatalog();
    await catalog.savePChannels([meta('b', 1n), meta('a', 1n)]);
    await catalog.savePChannels([meta('c', 1n), meta('b', 2n)]);
    expect((await catalog.listPChannels()).map((m) => [m.channel.name, m.channel.term])).toEqual([
      ['a', 1n],
      ['b', 2n],
      ['c', 1n],
    ]);
    for (const id of [30n, 2n, 100n, 7n]) await catalog.saveBroadcastTask(task(id));
    await catalog.saveBroadcastTask({ ...task(7n), state: 'done' });
    await catalog.removeBroadcastTask(30n);
    const tasks = await catalog.listBroadcastTasks();
    expect(tasks.map((t) => [t.broadcastId, t.state])).toEqual([
      [2n, 'pending'],
      [7n, 'done'],
      [100n, 'pending'],
    ]);
  });

  it('a checkpoint of a lower term never replaces one of a higher term', async () => {
    const catalog = new MemoryCatalog();
    const checkpoint = (term: bigint | undefined, timeTick: bigint) => ({
      messageId: '1',
      walName: 'memory',
      timeTick,
      ...(term === undefined ? {} : { term }),
    });
    expect(await catalog.getCheckpoint('p')).toBeUndefined();
    expect(await catalog.saveCheckpoint('p', checkpoint(2n, 10n))).toBe(true);
    expect(await catalog.saveCheckpoint('p', checkpoint(1n, 20n))).toBe(false);
    expect(await catalog.saveCheckpoint('p', checkpoint(undefined, 25n))).toBe(false);
    expect((await catalog.getCheckpoint('p'))?.timeTick).toBe(10n);
    expect(await catalog.saveCheckpoint('p', checkpoint(2n, 30n))).toBe(true);
    expect(await catalog.saveCheckpoint('p', checkpoint(3n, 40n))).toBe(true);
    expect((await catalog.getCheckpoint('p'))?.timeTick).toBe(40n);
  });

  it('the timestamp high-water mark only rises', async () => {
    const catalog = new MemoryCatalog();
    expect(await catalog.getTimestampHighWater()).toBe(0n);
    await catalog.saveTimestampHighWater(50n);
    await catalog.saveTimestampHighWater(20n);
    expect(await catalog.getTimestampHighWater()).toBe(50n);
    await catalog.saveTimestampHighWater(51n);
    expect(await catalog.getTimestampHighWater()).toBe(51n);
  });
});

describe('Registry', () => {
  it('refuses an empty adapter name, and lists the registered names sorted when one is missing', () => {
    const registry = new Registry();
    expect(() => registry.registerAdapter('' as never, (() => undefined) as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    registry.registerAdapter('zeta' as never, (() => undefined) as never);
    registry.registerAdapter('alpha' as never, (() => undefined) as never);
    expect(() => registry.adapter('missing' as never, {} as never)).toThrow(
      expect.objectContaining({
        code: 'NOT_REGISTERED',
        message: expect.stringContaining('(registered: alpha, zeta)'),
      }),
    );
  });
});
