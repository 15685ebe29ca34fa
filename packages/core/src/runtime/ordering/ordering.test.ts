import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ImmutableMessage, MutableMessage } from '../../message/message.js';
import { SystemMessageType } from '../../message/message-type.js';
import { type MessageID, registerMessageIdCodec } from '../../message-id/message-id.js';
import { composeTimeTick } from '../../timetick/hybrid.js';
import { TimeTickOrderer } from './timetick-orderer.js';

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
    return `#${this.value}`;
  }
}
registerMessageIdCodec('ordering-test', (text) => new Seq(Number(text)));

let nextId = 0;
function message(
  type: number,
  tt: bigint,
  extra: Record<string, string> = {},
  txn?: { id: bigint; keepaliveMs?: number },
) {
  const mutable = new MutableMessage(new Uint8Array(), {
    _t: String(type),
    _vc: 'p_v0',
    ...extra,
  }).withTimeTick(tt);
  if (txn) mutable.withTxnContext({ txnId: txn.id, keepaliveMs: txn.keepaliveMs ?? 60_000 });
  return mutable.withLastConfirmedUseMessageId().intoImmutable(new Seq(nextId++));
}
const PLAIN = 4_201;
const tick = (tt: bigint, persisted = true) => {
  const mutable = new MutableMessage(new Uint8Array(), {
    _t: String(SystemMessageType.TimeTick),
  }).withTimeTick(tt);
  if (!persisted) mutable.withNotPersisted();
  return mutable.withLastConfirmedUseMessageId().intoImmutable(new Seq(nextId++));
};

/**
 * What writers guarantee: a TimeTick at X arrives after every message with tt ≤ X. Within that rule the
 * arrival order is arbitrary (ids follow completion, not allocation).
 */
const schedule = fc
  .array(fc.record({ tt: fc.integer({ min: 1, max: 60 }), lateness: fc.integer({ min: 0, max: 5 }) }), {
    minLength: 1,
    maxLength: 40,
  })
  .chain((entries) =>
    fc.record({
      entries: fc.constant(entries),
      ticks: fc
        .uniqueArray(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 10 })
        .map((ticks) => ticks.sort((a, b) => a - b)),
    }),
  );

function arrivals(entries: { tt: number; lateness: number }[], ticks: number[]): ImmutableMessage[] {
  const ttUsed = new Set<number>();
  const plain = entries
    .filter(({ tt }) => !ttUsed.has(tt) && ttUsed.add(tt))
    .map(({ tt, lateness }) => ({
      at: tt + lateness,
      message: message(PLAIN, BigInt(tt), { tt: String(tt) }),
    }));
  // A tick at T goes out once every message with tt ≤ T arrived: place it after the latest of them.
  const placed = ticks.map((tickTt) => {
    const latest = Math.max(
      tickTt,
      ...plain.filter((p) => p.message.timeTick <= BigInt(tickTt)).map((p) => p.at),
    );
    return { at: latest + 0.5, message: tick(BigInt(tickTt)) };
  });
  return [...plain, ...placed].sort((a, b) => a.at - b.at).map((entry) => entry.message);
}

describe('TimeTickOrderer', () => {
  it('delivers in timetick order, and after a tick at X every message with tt ≤ X was delivered', () => {
    fc.assert(
      fc.property(schedule, ({ entries, ticks }) => {
        const input = arrivals(entries, ticks);
        const orderer = new TimeTickOrderer();
        const out = input.flatMap((m) => orderer.accept(m));
        const tts = out.map((m) => m.timeTick);
        expect(tts).toEqual([...tts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        const delivered = new Set<ImmutableMessage>();
        for (const m of out) {
          if (m.messageType === SystemMessageType.TimeTick) {
            for (const p of input) {
              if (p.messageType === PLAIN && p.timeTick <= m.timeTick) expect(delivered.has(p)).toBe(true);
            }
          }
          delivered.add(m);
        }
        expect(orderer.refused).toBe(0);
      }),
    );
  });

  it('holds messages until a tick covers them', () => {
    const orderer = new TimeTickOrderer();
    expect(orderer.accept(message(PLAIN, 5n))).toEqual([]);
    expect(orderer.accept(message(PLAIN, 3n))).toEqual([]);
    expect(orderer.accept(tick(4n)).map((m) => m.timeTick)).toEqual([3n, 4n]);
    expect(orderer.accept(tick(9n)).map((m) => m.timeTick)).toEqual([5n, 9n]);
  });

  it('delivers a non-persisted tick only when it released nothing', () => {
    const orderer = new TimeTickOrderer();
    orderer.accept(message(PLAIN, 1n));
    expect(orderer.accept(tick(2n, false)).map((m) => m.timeTick)).toEqual([1n]);
    expect(orderer.accept(tick(3n, false)).map((m) => m.timeTick)).toEqual([3n]);
  });

  it('refuses duplicates and messages older than a released tick', () => {
    const orderer = new TimeTickOrderer();
    const m = message(PLAIN, 5n);
    orderer.accept(m);
    orderer.accept(m);
    expect(orderer.accept(tick(6n)).filter((x) => x.messageType === PLAIN)).toHaveLength(1);
    orderer.accept(message(PLAIN, 4n));
    expect(orderer.refused).toBe(2);
  });
});

describe('TimeTickOrderer: appends written twice', () => {
  /** A second copy of `original`, as a retry after a lost acknowledgement writes it: same props, newer id. */
  const copyOf = (original: ImmutableMessage): ImmutableMessage =>
    new MutableMessage(original.payload, original.properties).intoImmutable(new Seq(nextId++));

  it('property: retried copies (same timetick and term, later id) change nothing but which copy is delivered', () => {
    fc.assert(
      fc.property(schedule, fc.array(fc.nat(), { maxLength: 10 }), ({ entries, ticks }, picks) => {
        const input = arrivals(entries, ticks);
        const expected = new TimeTickOrderer();
        const once = input.flatMap((m) => expected.accept(m));
        // Each copy lands right after its original: a retry writes before the append is acknowledged,
        // so before any tick that covers it.
        const withCopies: ImmutableMessage[] = [];
        const copied = new Map<ImmutableMessage, ImmutableMessage>();
        const chosen = new Set(picks.map((pick) => input[pick % input.length]!));
        for (const m of input) {
          withCopies.push(m);
          if (chosen.has(m) && m.messageType !== SystemMessageType.TimeTick) {
            const copy = copyOf(m);
            copied.set(m, copy);
            withCopies.push(copy);
          }
        }
        const orderer = new TimeTickOrderer();
        const out = withCopies.flatMap((m) => orderer.accept(m));
        // The same deliveries, in the same order, each copied message delivered once as its last copy.
        expect(out.map((m) => m.timeTick)).toEqual(once.map((m) => m.timeTick));
        expect(out).toEqual(once.map((m) => copied.get(m) ?? m));
        expect(orderer.refused).toBe(copied.size);
      }),
    );
  });

  it('a tick written twice is delivered once', () => {
    const orderer = new TimeTickOrderer();
    orderer.accept(message(PLAIN, 1n));
    const first = tick(2n);
    expect(orderer.accept(first).map((m) => m.timeTick)).toEqual([1n, 2n]);
    expect(orderer.accept(copyOf(first))).toEqual([]);
    expect(orderer.refused).toBe(1);
  });

  it('the same timetick from two terms is two appends', () => {
    const orderer = new TimeTickOrderer();
    orderer.accept(message(PLAIN, 5n, { _wt: '1' }));
    orderer.accept(message(PLAIN, 5n, { _wt: '2' }));
    expect(orderer.accept(tick(6n)).filter((m) => m.messageType === PLAIN)).toHaveLength(2);
  });
});

describe('TxnBuffer through the orderer', () => {
  const txnArb = fc.array(
    fc.record({
      bodies: fc.integer({ min: 0, max: 4 }),
      end: fc.constantFrom('commit', 'rollback', 'expire', 'open'),
    }),
    { minLength: 1, maxLength: 8 },
  );

  it('a committed txn comes out whole at its commit; rolled-back, expired and open ones never', () => {
    fc.assert(
      fc.property(txnArb, (txns) => {
        const orderer = new TimeTickOrderer();
        let tt = 1_000;
        const out: ImmutableMessage[] = [];
        const feed = (m: ImmutableMessage) => out.push(...orderer.accept(m));
        txns.forEach((txn, index) => {
          const ctx = { id: BigInt(index + 1), keepaliveMs: txn.end === 'expire' ? 1 : 60_000 };
          feed(message(SystemMessageType.BeginTxn, composeTimeTick(tt++), {}, ctx));
          for (let b = 0; b < txn.bodies; b++)
            feed(message(PLAIN, composeTimeTick(tt++), { body: `${index}.${b}` }, ctx));
          if (txn.end === 'commit')
            feed(message(SystemMessageType.CommitTxn, composeTimeTick(tt++), {}, ctx));
          if (txn.end === 'rollback')
            feed(message(SystemMessageType.RollbackTxn, composeTimeTick(tt++), {}, ctx));
          tt += 10;
          feed(tick(composeTimeTick(tt++)));
        });
        feed(tick(composeTimeTick(tt + 20)));
        const txnMessages = out.filter((m) => m.messageType === SystemMessageType.Txn);
        const committed = txns.map((t, i) => ({ ...t, i })).filter((t) => t.end === 'commit');
        expect(txnMessages).toHaveLength(committed.length);
        txnMessages.forEach((m, k) => {
          const bodies = (m as unknown as { bodies: ImmutableMessage[] }).bodies;
          expect(bodies.map((b) => b.properties.body)).toEqual(
            Array.from({ length: committed[k]!.bodies }, (_, b) => `${committed[k]!.i}.${b}`),
          );
          expect(bodies.every((b) => b.timeTick === m.timeTick)).toBe(true);
        });
        expect(out.some((m) => m.messageType === PLAIN)).toBe(false);
        expect(orderer.txns.pending.length).toBe(txns.filter((t) => t.end === 'open').length);
      }),
    );
  });
});
