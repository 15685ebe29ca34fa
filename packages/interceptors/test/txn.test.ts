import { memoryAdapter } from '@walstream/adapter-memory';
import {
  defineMessageType,
  type MessageTypeDefinition,
  messageTypes,
  newMessage,
  SystemMessageType,
  TxnState,
} from '@walstream/core';
import {
  beginTxnMessage,
  commitTxnMessage,
  inTxn,
  rollbackTxnMessage,
  shardMessages,
} from '@walstream/interceptors';
import { describe, expect, it } from 'vitest';
import {
  createCollection,
  isTick,
  lastConfirmedViolations,
  ManualClock,
  note,
  StoreGate,
  semanticsStack,
  settleOrder,
  stored,
  watchedSignal,
  within,
} from './support.js';

const WalWide: MessageTypeDefinition<unknown> =
  messageTypes.byName('SemanticsTestWalWide') ??
  defineMessageType({ name: 'SemanticsTestWalWide', code: 4202, flags: { exclusiveRequired: true } });

async function txnStack(options = {}, clock?: ManualClock, gate?: StoreGate) {
  const stack = await semanticsStack(options, {
    clock,
    ...(gate ? { adapter: gate.adapter(memoryAdapter()) } : {}),
  });
  const wal = await stack.open(1n);
  await createCollection(wal, 'ps_av0', 1n);
  await createCollection(wal, 'ps_bv0', 2n);
  return { stack, wal };
}

describe('txn: lifecycle', () => {
  it('begin, bodies and commit carry the txn context in the log and in every result', async () => {
    const { stack, wal } = await txnStack();
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    expect(begin.txn).toEqual({ txnId: begin.timeTick, keepaliveMs: 10_000 });
    const bodies = await Promise.all([1, 2, 3].map((i) => wal.append(inTxn(note('ps_av0', i), begin.txn!))));
    for (const body of bodies) expect(body.txn).toEqual(begin.txn);
    const commit = await wal.append(commitTxnMessage('ps_av0', begin.txn!));
    expect(commit.txn).toEqual(begin.txn);
    expect(commit.timeTick).toBeGreaterThan(
      bodies.reduce((max, b) => (b.timeTick > max ? b.timeTick : max), 0n),
    );
    const txnMessages = stored(stack).filter((m) => m.txnContext?.txnId === begin.txn!.txnId);
    expect(txnMessages.map((m) => m.messageType)).toEqual([
      SystemMessageType.BeginTxn,
      ...bodies.map(() => Note()),
      SystemMessageType.CommitTxn,
    ]);
    await expect(wal.append(inTxn(note('ps_av0', 9), begin.txn!))).rejects.toMatchObject({
      code: expect.stringMatching(/INVALID_TRANSACTION_STATE|TRANSACTION_EXPIRED/),
    });
    await stack.close();
  });

  it('keepalive 0 means the default; below 1 ms, negative or fractional is INVALID_ARGUMENT', async () => {
    const { stack, wal } = await txnStack({ txn: { defaultKeepaliveMs: 1234 } });
    expect((await wal.append(beginTxnMessage('ps_av0', { keepaliveMs: 0 }))).txn?.keepaliveMs).toBe(1234);
    expect((await wal.append(beginTxnMessage('ps_av0', { keepaliveMs: 5 }))).txn?.keepaliveMs).toBe(5);
    for (const keepaliveMs of [-1, 0.5]) {
      await expect(wal.append(beginTxnMessage('ps_av0', { keepaliveMs }))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    await stack.close();
  });

  it('an idle txn expires: its next message and its commit get TRANSACTION_EXPIRED', async () => {
    const clock = new ManualClock();
    const { stack, wal } = await txnStack({ now: clock.now }, clock);
    const begin = await wal.append(beginTxnMessage('ps_av0', { keepaliveMs: 50 }));
    clock.advance(40);
    await wal.append(inTxn(note('ps_av0', 1), begin.txn!));
    clock.advance(40);
    // Refreshed by the body at +40: still alive at +80.
    await wal.append(inTxn(note('ps_av0', 2), begin.txn!));
    clock.advance(60);
    await expect(wal.append(inTxn(note('ps_av0', 3), begin.txn!))).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    await expect(wal.append(commitTxnMessage('ps_av0', begin.txn!))).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    await stack.close();
  });

  it('rollback ends the txn; unknown txns are TRANSACTION_EXPIRED; a txn stays on its vchannel', async () => {
    const { stack, wal } = await txnStack();
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    await expect(wal.append(inTxn(note('ps_bv0', 1), begin.txn!))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      wal.append(commitTxnMessage('ps_av0', { txnId: 42n, keepaliveMs: 1000 })),
    ).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    await wal.append(rollbackTxnMessage('ps_av0', begin.txn!));
    const session = stack
      .context()
      .txnManager.sessions()
      .find((s) => s.txnId === begin.txn!.txnId);
    expect(session === undefined || session.state === TxnState.RolledBack).toBe(true);
    await expect(wal.append(commitTxnMessage('ps_av0', begin.txn!))).rejects.toMatchObject({
      code: expect.stringMatching(/INVALID_TRANSACTION_STATE|TRANSACTION_EXPIRED/),
    });
    await expect(
      wal.append(
        inTxn(shardMessages.createPartition('ps_av0', { collectionId: 1n, partitionId: 3n }), begin.txn!),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await stack.close();
  });
});

describe('txn: commit and in-flight bodies', () => {
  it('a commit waits until the bodies in flight landed; a body arriving meanwhile is refused', async () => {
    const gate = new StoreGate();
    const { stack, wal } = await txnStack({}, undefined, gate);
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    const { order, track } = settleOrder();
    const heldBody = gate.hold((m) => m.properties.seq === '1');
    const body = track('body', wal.append(inTxn(note('ps_av0', 1), begin.txn!)));
    await within(heldBody.arrived, 'the body to reach the store');
    const commitWaits = watchedSignal();
    const commit = track(
      'commit',
      wal.append(commitTxnMessage('ps_av0', begin.txn!), { signal: commitWaits.signal }),
    );
    await within(commitWaits.waiting, 'the commit to wait for the body in flight');
    expect(stack.context().txnManager.get(begin.txn!.txnId).state).toBe(TxnState.OnCommit);
    await expect(wal.append(inTxn(note('ps_av0', 2), begin.txn!))).rejects.toMatchObject({
      code: 'INVALID_TRANSACTION_STATE',
    });
    heldBody.release();
    const [b, c] = await Promise.all([body, commit]);
    expect(order).toEqual(['body', 'commit']);
    expect(c.messageId.compare(b.messageId)).toBeGreaterThan(0);
    expect(c.timeTick).toBeGreaterThan(b.timeTick);
    await stack.close();
  });

  it('a commit wait is bounded by its signal; after the abort the txn can still commit', async () => {
    const gate = new StoreGate();
    const { stack, wal } = await txnStack({}, undefined, gate);
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    const heldBody = gate.hold((m) => m.properties.seq === '1');
    const body = wal.append(inTxn(note('ps_av0', 1), begin.txn!));
    await within(heldBody.arrived, 'the body to reach the store');
    const commitWaits = watchedSignal();
    const commit = wal.append(commitTxnMessage('ps_av0', begin.txn!), { signal: commitWaits.signal });
    await within(commitWaits.waiting, 'the commit to wait for the body in flight');
    commitWaits.abort();
    await expect(commit).rejects.toMatchObject({ code: 'ABORTED' });
    expect(stack.context().txnManager.get(begin.txn!.txnId).state).toBe(TxnState.InFlight);
    heldBody.release();
    await body;
    await expect(wal.append(commitTxnMessage('ps_av0', begin.txn!))).resolves.toMatchObject({
      txn: begin.txn,
    });
    await stack.close();
  });
});

describe('txn: exclusive messages and the last-confirmed id', () => {
  it('an exclusive message on a vchannel fails the open txns there, and only there', async () => {
    const { stack, wal } = await txnStack();
    const a = await wal.append(beginTxnMessage('ps_av0'));
    const b = await wal.append(beginTxnMessage('ps_bv0'));
    await wal.append(shardMessages.manualFlush('ps_av0'));
    await expect(wal.append(inTxn(note('ps_av0', 1), a.txn!))).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    await expect(wal.append(inTxn(note('ps_bv0', 1), b.txn!))).resolves.toBeDefined();
    await expect(wal.append(commitTxnMessage('ps_bv0', b.txn!))).resolves.toBeDefined();
    await stack.close();
  });

  it('an exclusive append that failed refuses the txns it would cross, yet keeps them recoverable', async () => {
    const { stack, wal } = await txnStack();
    const begin = await wal.append(beginTxnMessage('ps_av0', { keepaliveMs: 600_000 }));
    // Refused before it was written (wrong collection): nothing crossed the txn in the log.
    await expect(
      wal.append(shardMessages.createPartition('ps_av0', { collectionId: 99n, partitionId: 3n })),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(wal.append(inTxn(note('ps_av0', 1), begin.txn!))).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    await wal.close();
    const next = await stack.open(2n);
    await expect(next.append(commitTxnMessage('ps_av0', begin.txn!))).resolves.toMatchObject({
      txn: begin.txn,
    });
    expect(lastConfirmedViolations(stored(stack))).toEqual([]);
    await stack.close();
  });

  it('an exclusive message on the pchannel fails every open txn', async () => {
    const { stack, wal } = await txnStack();
    const a = await wal.append(beginTxnMessage('ps_av0'));
    const b = await wal.append(beginTxnMessage('ps_bv0'));
    await wal.append(newMessage(WalWide).allVChannels().build());
    for (const [vchannel, txn] of [
      ['ps_av0', a.txn!],
      ['ps_bv0', b.txn!],
    ] as const) {
      await expect(wal.append(commitTxnMessage(vchannel, txn))).rejects.toMatchObject({
        code: 'TRANSACTION_EXPIRED',
      });
    }
    await stack.close();
  });

  it('TimeTicks and messages never carry an LC past an open txn begin; after the commit the LC moves on', async () => {
    const { stack, wal } = await txnStack();
    const begin = await wal.append(beginTxnMessage('ps_av0'));
    await wal.append(inTxn(note('ps_av0', 0), begin.txn!));
    for (let i = 0; i < 20; i++) await wal.append(note('ps_bv0', i));
    const lastOpen = await wal.append(note('ps_bv0', 99));
    await expect
      .poll(() => stored(stack).some((m) => isTick(m) && m.timeTick >= lastOpen.timeTick))
      .toBe(true);
    const afterBegin = stored(stack).filter((m) => m.id.compare(begin.messageId) > 0);
    for (const message of afterBegin)
      expect(message.lastConfirmedId.compare(begin.messageId)).toBeLessThanOrEqual(0);
    await wal.append(commitTxnMessage('ps_av0', begin.txn!));
    for (let i = 0; i < 3; i++) await wal.append(note('ps_bv0', 100 + i));
    const later = await wal.append(note('ps_bv0', 200));
    const landed = () => stored(stack).find((m) => m.id.compare(later.messageId) === 0);
    await expect.poll(() => landed()?.lastConfirmedId.compare(begin.messageId) ?? 0).toBeGreaterThan(0);
    await stack.close();
  });
});

describe('txn: a commit whose append failed', () => {
  it('is refused here, keeps the LC behind its begin, and may still be committed by the next term', async () => {
    const gate = new StoreGate();
    const { stack, wal } = await txnStack({}, undefined, gate);
    const begin = await wal.append(beginTxnMessage('ps_av0', { keepaliveMs: 600_000 }));
    await wal.append(inTxn(note('ps_av0', 1), begin.txn!));
    // The commit is aborted while it waits in the store: it may or may not land.
    const heldCommit = gate.hold((m) => m.messageType === SystemMessageType.CommitTxn);
    const controller = new AbortController();
    const commit = wal.append(commitTxnMessage('ps_av0', begin.txn!), { signal: controller.signal });
    await within(heldCommit.arrived, 'the commit to reach the store');
    controller.abort();
    await expect(commit).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(wal.append(commitTxnMessage('ps_av0', begin.txn!))).rejects.toMatchObject({
      code: 'TRANSACTION_EXPIRED',
    });
    for (let i = 0; i < 5; i++) await wal.append(note('ps_bv0', i));
    const last = await wal.append(note('ps_bv0', 9));
    await expect.poll(() => stored(stack).some((m) => isTick(m) && m.timeTick >= last.timeTick)).toBe(true);
    for (const message of stored(stack).filter((m) => m.id.compare(begin.messageId) > 0)) {
      expect(message.lastConfirmedId.compare(begin.messageId)).toBeLessThanOrEqual(0);
    }
    await wal.close();
    const next = await stack.open(2n);
    await expect(next.append(commitTxnMessage('ps_av0', begin.txn!))).resolves.toMatchObject({
      txn: begin.txn,
    });
    expect(lastConfirmedViolations(stored(stack))).toEqual([]);
    await stack.close();
  });
});

function Note(): number {
  return messageTypes.byName('SemanticsTestNote')!.code;
}
