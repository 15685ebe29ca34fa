import { composeTimeTick, TxnState } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { TxnManager } from './txn-manager.js';
import { TxnSession } from './txn-session.js';

const at = (ms: number) => composeTimeTick(1_000_000 + ms);

describe('TxnSession', () => {
  it('expires when a message comes at or past last activity + keepalive, and stays expired', () => {
    const session = new TxnSession(1n, 'v', 100, at(0));
    session.addBody(at(50));
    session.bodyDone(at(50), true);
    // Keepalive refreshed by the landed body: 50 + 100.
    session.addBody(at(149));
    session.bodyDone(at(149), false);
    expect(() => session.addBody(at(150))).toThrow(expect.objectContaining({ code: 'TRANSACTION_EXPIRED' }));
    expect(() => session.addBody(at(10))).toThrow(expect.objectContaining({ code: 'TRANSACTION_EXPIRED' }));
    expect(session.isExpiredOrDone(at(0))).toBe(true);
  });

  it('commit waits for in-flight bodies; no body may join meanwhile', async () => {
    const session = new TxnSession(1n, 'v', 1_000, at(0));
    session.addBody(at(1));
    let finished = false;
    const commit = session.finish('commit', undefined).then(() => {
      finished = true;
    });
    await Promise.resolve();
    expect(session.state).toBe(TxnState.OnCommit);
    expect(finished).toBe(false);
    expect(() => session.addBody(at(2))).toThrow(
      expect.objectContaining({ code: 'INVALID_TRANSACTION_STATE' }),
    );
    session.bodyDone(at(1), true);
    await commit;
    session.checkFinishTimeTick(at(3));
    session.finished(true);
    expect(session.state).toBe(TxnState.Committed);
    expect(session.isExpiredOrDone(at(3))).toBe(true);
    await expect(session.finish('rollback', undefined)).rejects.toMatchObject({
      code: 'INVALID_TRANSACTION_STATE',
    });
  });

  it('an aborted commit wait returns the txn to InFlight (nothing was written)', async () => {
    const session = new TxnSession(1n, 'v', 1_000, at(0));
    session.addBody(at(1));
    const controller = new AbortController();
    const commit = session.finish('commit', controller.signal);
    controller.abort();
    await expect(commit).rejects.toMatchObject({ code: 'ABORTED' });
    expect(session.state).toBe(TxnState.InFlight);
  });

  it('a failed commit append refuses the txn here, but it may still commit (elsewhere) until it expires', () => {
    const session = new TxnSession(1n, 'v', 1_000, at(0));
    const done: string[] = [];
    session.onDone(() => done.push('done'));
    void session.finish('commit', undefined);
    session.finished(false);
    expect(session.isRefused).toBe(true);
    expect(session.isDone).toBe(false);
    expect(session.isExpiredOrDone(at(999))).toBe(false);
    expect(session.isExpiredOrDone(at(1_000))).toBe(true);
    expect(() => session.addBody(at(1))).toThrow(expect.objectContaining({ code: 'TRANSACTION_EXPIRED' }));
    expect(done).toEqual([]);
    session.expireAt(at(1_000));
    expect(done).toEqual(['done']);
  });

  it('runs done callbacks on commit, failure and expiry', () => {
    const calls: string[] = [];
    const a = new TxnSession(1n, 'v', 100, at(0));
    a.onDone(() => calls.push('a'));
    const b = new TxnSession(2n, 'v', 100, at(0));
    b.onDone(() => calls.push('b'));
    const c = new TxnSession(3n, 'v', 100, at(0));
    c.onDone(() => calls.push('c'));
    void a.finish('rollback', undefined);
    a.finished(true);
    b.fail('exclusive message');
    expect(c.expireAt(at(99))).toBe(false);
    expect(c.expireAt(at(100))).toBe(true);
    expect(calls).toEqual(['a', 'b', 'c']);
  });
});

describe('TxnManager', () => {
  it('resolves keepalive: 0 → default, < 1 ms or fractional → INVALID_ARGUMENT', () => {
    const manager = new TxnManager({ defaultKeepaliveMs: 7_000 });
    expect(manager.resolveKeepalive(0)).toBe(7_000);
    expect(manager.resolveKeepalive(5)).toBe(5);
    for (const bad of [-1, 0.5, 1.5, Number.NaN]) {
      expect(() => manager.resolveKeepalive(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });

  it('unknown txns are TRANSACTION_EXPIRED; cleanup removes expired and finished txns', () => {
    const manager = new TxnManager({ defaultKeepaliveMs: 10_000 });
    expect(() => manager.get(42n)).toThrow(expect.objectContaining({ code: 'TRANSACTION_EXPIRED' }));
    const short = manager.begin('v', 10, at(0));
    const long = manager.begin('v', 10_000, at(1));
    manager.cleanupUntil(at(10));
    expect(() => manager.get(short.txnId)).toThrow(expect.objectContaining({ code: 'TRANSACTION_EXPIRED' }));
    expect(manager.get(long.txnId)).toBe(long);
  });

  it('fails the open txns of one vchannel, or of all, and refuses begins once closed', () => {
    const manager = new TxnManager({ defaultKeepaliveMs: 10_000 });
    const a = manager.begin('a', 1_000, at(0));
    const b = manager.begin('b', 1_000, at(1));
    expect(manager.failAtVChannel('a', 'exclusive')).toBe(1);
    expect(a.isDone).toBe(true);
    expect(b.isDone).toBe(false);
    expect(manager.failAtVChannel(undefined, 'exclusive')).toBe(1);
    expect(manager.size).toBe(0);
    manager.close();
    expect(() => manager.begin('a', 1_000, at(2))).toThrow(
      expect.objectContaining({ code: 'TRANSACTION_EXPIRED' }),
    );
  });
});
