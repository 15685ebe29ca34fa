import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountingAllocator, TestId, testMessage } from '../testing.js';
import { type AckDetail, type Acker, AckManager } from './ack-manager.js';

interface Txn {
  done: boolean;
  beginId: number | undefined;
  beginAcked: boolean;
  commitAllocated: boolean;
  bodiesInFlight: number;
  isExpiredOrDone(): boolean;
}

interface Op {
  readonly kind: 'plain' | 'begin' | 'body' | 'commit' | 'complete' | 'ack' | 'sync';
  readonly pick: number;
  readonly fail: boolean;
}

interface Allocation {
  readonly acker: Acker;
  readonly role: 'plain' | 'begin' | 'body' | 'commit';
  readonly txn: Txn | undefined;
  id: number | undefined;
  completed: boolean;
  failed: boolean;
  acked: boolean;
}

const ops = fc.array(
  fc.record({
    kind: fc.constantFrom<Op['kind']>(
      'plain',
      'begin',
      'body',
      'commit',
      'complete',
      'complete',
      'ack',
      'ack',
      'sync',
    ),
    pick: fc.nat(),
    fail: fc.boolean(),
  }),
  { minLength: 10, maxLength: 150, size: 'max' },
);

/**
 * Interprets a schedule the way the WAL runs: an append allocates, later completes in the store (ids in
 * completion order), later still is acknowledged — the three steps interleave freely across appends.
 * Txn rules are the writer's: bodies after the begin's result, the commit after every body settled.
 */
function run(
  schedule: readonly Op[],
  check: (manager: AckManager, all: readonly Allocation[], txns: readonly Txn[]) => void,
  taken: bigint[] = [],
) {
  const manager = new AckManager({
    allocator: new CountingAllocator(10n),
    initialLastConfirmed: new TestId(0),
    floorTimeTick: 9n,
  });
  const all: Allocation[] = [];
  const txns: Txn[] = [];
  let nextId = 1;
  const openTxns = () => txns.filter((txn) => txn.beginAcked && !txn.done && !txn.commitAllocated);
  const allocate = (role: Allocation['role'], txn: Txn | undefined) => {
    const acker = manager.allocate() as Acker;
    all.push({ acker, role, txn, id: undefined, completed: false, failed: false, acked: false });
  };
  for (const op of schedule) {
    switch (op.kind) {
      case 'plain':
        allocate('plain', undefined);
        break;
      case 'begin': {
        const txn: Txn = {
          done: false,
          beginId: undefined,
          beginAcked: false,
          commitAllocated: false,
          bodiesInFlight: 0,
          isExpiredOrDone() {
            return this.done;
          },
        };
        txns.push(txn);
        allocate('begin', txn);
        break;
      }
      case 'body': {
        const open = openTxns();
        const txn = open[op.pick % Math.max(1, open.length)];
        if (!txn) break;
        txn.bodiesInFlight++;
        allocate('body', txn);
        break;
      }
      case 'commit': {
        const ready = openTxns().filter((txn) => txn.bodiesInFlight === 0);
        const txn = ready[op.pick % Math.max(1, ready.length)];
        if (!txn) break;
        txn.commitAllocated = true;
        allocate('commit', txn);
        break;
      }
      case 'complete': {
        const waiting = all.filter((a) => !a.completed);
        const a = waiting[op.pick % Math.max(1, waiting.length)];
        if (!a) break;
        a.completed = true;
        if (op.fail) a.failed = true;
        else a.id = nextId++;
        if (a.role === 'begin' && !a.failed) a.txn!.beginId = a.id;
        break;
      }
      case 'ack': {
        const completed = all.filter((a) => a.completed && !a.acked);
        const a = completed[op.pick % Math.max(1, completed.length)];
        if (!a) break;
        a.acked = true;
        const txn = a.txn;
        if (a.role === 'begin') {
          if (a.failed) txn!.done = true;
          else txn!.beginAcked = true;
        }
        if (a.role === 'body') txn!.bodiesInFlight--;
        // As the interceptor does: the txn is done in the same step as its commit's acknowledgement.
        if (a.role === 'commit') txn!.done = true;
        if (a.failed) manager.ack(a.acker, { kind: 'failed' });
        else {
          const message = testMessage(a.id!, a.acker.timeTick);
          manager.ack(a.acker, txn ? { kind: 'appended', message, txn } : { kind: 'appended', message });
        }
        break;
      }
      case 'sync':
        for (const detail of manager.syncAndTakeAcknowledged() as AckDetail[])
          taken.push(detail.beginTimeTick);
        break;
    }
    check(manager, all, txns);
  }
  return { manager, all, txns };
}

describe('AckManager (property)', () => {
  it('the confirmed timetick never passes an unacknowledged allocation', () => {
    fc.assert(
      fc.property(ops, (schedule) => {
        run(schedule, (manager, all) => {
          for (const a of all) {
            if (!a.acked) expect(manager.confirmedTimeTick).toBeLessThan(a.acker.timeTick);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('the LC never passes the begin of a txn that may still commit', () => {
    fc.assert(
      fc.property(ops, (schedule) => {
        run(schedule, (manager, _all, txns) => {
          const lc = (manager.lastConfirmed as TestId).value;
          for (const txn of txns) {
            if (!txn.done && txn.beginId !== undefined) expect(lc).toBeLessThanOrEqual(txn.beginId);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('a reader starting at a message LC sees every later-allocated message and every later commit whole', () => {
    fc.assert(
      fc.property(ops, (schedule) => {
        const { all } = run(schedule, () => undefined);
        const landed = all.filter((a) => a.id !== undefined);
        for (const x of all) {
          const lc = (x.acker.lastConfirmed as TestId).value;
          for (const y of landed) {
            if (y.acker.timeTick >= x.acker.timeTick) expect(y.id!).toBeGreaterThanOrEqual(lc);
            // A txn committing after X must be readable from LC(X): its begin is not before LC(X).
            if (y.role === 'commit' && y.acker.timeTick > x.acker.timeTick && y.txn!.beginId !== undefined) {
              expect(y.txn!.beginId).toBeGreaterThanOrEqual(lc);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('hands out every acknowledged allocation exactly once, in timetick order, only as a complete prefix', () => {
    fc.assert(
      fc.property(ops, (schedule) => {
        const taken: bigint[] = [];
        const { manager, all } = run(
          schedule,
          (m) => {
            for (const detail of m.takeAcknowledged()) taken.push(detail.beginTimeTick);
          },
          taken,
        );
        for (const detail of manager.takeAcknowledged()) taken.push(detail.beginTimeTick);
        expect([...taken].sort((a, b) => (a < b ? -1 : 1))).toEqual(taken);
        expect(new Set(taken).size).toBe(taken.length);
        const userTicks = new Set(all.map((a) => a.acker.timeTick));
        const firstUnacked = all.find((a) => !a.acked)?.acker.timeTick;
        for (const a of all) {
          const handedOut = taken.includes(a.acker.timeTick);
          expect(handedOut).toBe(firstUnacked === undefined ? a.acked : a.acker.timeTick < firstUnacked);
        }
        // Sync allocations are handed out too; nothing else.
        for (const tick of taken) if (!userTicks.has(tick)) expect(tick).toBeGreaterThan(9n);
      }),
      { numRuns: 300 },
    );
  });
});

describe('AckManager', () => {
  it('stamps each allocation with the LC of its time and moves the LC only past safe, finished messages', () => {
    const manager = new AckManager({
      allocator: new CountingAllocator(100n),
      initialLastConfirmed: new TestId(0),
    });
    const a = manager.allocate() as Acker;
    const b = manager.allocate() as Acker;
    expect(a.lastConfirmed.toString()).toBe('test:0');
    // b lands first (id 1) and is acknowledged while a is still in flight: not safe yet.
    manager.ack(b, { kind: 'appended', message: testMessage(1, b.timeTick) });
    expect((manager.lastConfirmed as TestId).value).toBe(0);
    expect(manager.confirmedTimeTick).toBeLessThan(a.timeTick);
    manager.ack(a, { kind: 'appended', message: testMessage(2, a.timeTick) });
    expect(manager.confirmedTimeTick).toBe(b.timeTick);
    expect((manager.lastConfirmed as TestId).value).toBe(2);
    const c = manager.allocate() as Acker;
    expect(c.lastConfirmedText).toBe('2');
  });

  it('holds the LC at a recovered txn begin until that txn is done', () => {
    const txn = {
      done: false,
      isExpiredOrDone() {
        return this.done;
      },
    };
    const manager = new AckManager({
      allocator: new CountingAllocator(100n),
      initialLastConfirmed: new TestId(3),
      recoveredTxns: [{ beginId: new TestId(3), txn }],
      floorTimeTick: 99n,
    });
    const a = manager.allocate() as Acker;
    manager.ack(a, { kind: 'appended', message: testMessage(10, a.timeTick) });
    expect((manager.lastConfirmed as TestId).value).toBe(3);
    txn.done = true;
    const b = manager.allocate() as Acker;
    manager.ack(b, { kind: 'sync' });
    expect((manager.lastConfirmed as TestId).value).toBe(10);
  });

  it('rejects a double acknowledgement and an allocator that goes backwards', async () => {
    const manager = new AckManager({
      allocator: new CountingAllocator(5n),
      initialLastConfirmed: new TestId(0),
      floorTimeTick: 10n,
    });
    expect(() => manager.allocate()).toThrow(/backwards/);
    const ok = new AckManager({ allocator: new CountingAllocator(5n), initialLastConfirmed: new TestId(0) });
    const a = ok.allocate() as Acker;
    ok.ack(a, { kind: 'failed' });
    expect(() => ok.ack(a, { kind: 'failed' })).toThrow(/twice/);
  });

  it('serialises allocations that need I/O and honours a barrier', async () => {
    const allocator = new CountingAllocator(1n);
    const slow = {
      allocate: () => allocator.allocate(),
      sync: () => undefined,
      barrierUntil: (b: bigint) => allocator.barrierUntil(b),
    };
    const manager = new AckManager({ allocator: slow, initialLastConfirmed: new TestId(0) });
    const [a, b, c] = await Promise.all([manager.allocate(), manager.allocate(500n), manager.allocate()]);
    expect(a.timeTick).toBe(1n);
    expect(b.timeTick).toBeGreaterThanOrEqual(500n);
    expect(c.timeTick).toBeGreaterThan(b.timeTick);
    expect(manager.outstanding).toBe(3);
    const idle = manager.whenIdle();
    for (const acker of [c, a, b]) manager.ack(acker, { kind: 'failed' });
    await expect(idle).resolves.toBeUndefined();
    expect(manager.takeAcknowledged().map((d) => d.beginTimeTick)).toEqual([
      a.timeTick,
      b.timeTick,
      c.timeTick,
    ]);
  });
});
