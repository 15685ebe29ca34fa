import { MemoryMessageId } from '@walstream/adapter-memory';
import { type AppendResult, hasCode, WalError } from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DedupBounds, DedupWindow, type ProducerSequence } from '../src/dedup/window.js';

const BOUNDS: DedupBounds = { maxSequences: 16, maxAgeMs: 60_000, maxProducers: 100 };

function result(n: number): AppendResult {
  return { messageId: new MemoryMessageId(n), timeTick: BigInt(1000 + n) };
}

function key(producerId: string, sequence: number): ProducerSequence {
  return { producerId, sequence: BigInt(sequence) };
}

function refusal(fn: () => unknown): WalError {
  try {
    fn();
  } catch (error) {
    if (WalError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('DedupWindow', () => {
  it('answers a repeat of a written sequence with the first result', () => {
    const window = new DedupWindow(BOUNDS);
    const first = window.admit(key('a', 1), 0);
    expect(first.kind).toBe('fresh');
    if (first.kind === 'fresh') first.settle(result(1));
    const again = window.admit(key('a', 1), 5);
    expect(again).toEqual({ kind: 'done', result: result(1) });
  });

  it('lets a repeat wait for the append in flight and hands it that result', async () => {
    const window = new DedupWindow(BOUNDS);
    const first = window.admit(key('a', 1), 0);
    const again = window.admit(key('a', 1), 1);
    expect(again.kind).toBe('pending');
    if (first.kind === 'fresh') first.settle(result(7));
    if (again.kind === 'pending') expect(await again.settled).toEqual(result(7));
  });

  it('admits a sequence again after its append failed without writing', () => {
    const window = new DedupWindow(BOUNDS);
    const first = window.admit(key('a', 1), 0);
    if (first.kind === 'fresh') first.fail('not-written');
    expect(window.admit(key('a', 1), 1).kind).toBe('fresh');
  });

  it('says unknown for a sequence whose append failed with its outcome unknown', () => {
    const window = new DedupWindow(BOUNDS);
    const first = window.admit(key('a', 1), 0);
    if (first.kind === 'fresh') first.fail('unknown');
    expect(window.admit(key('a', 1), 1).kind).toBe('unknown');
  });

  it('admits sequences inside the window in any order, each producer apart', () => {
    const window = new DedupWindow(BOUNDS);
    for (const n of [5, 2, 9, 1]) expect(window.admit(key('a', n), 0).kind).toBe('fresh');
    expect(window.admit(key('b', 2), 0).kind).toBe('fresh');
  });

  it('refuses a sequence below the window as INVALID_REQUEST_SEQ, not retriable, written unknown', () => {
    const window = new DedupWindow(BOUNDS);
    window.admit(key('a', 20), 0);
    const error = refusal(() => window.admit(key('a', 4), 0));
    expect(hasCode(error, 'INVALID_REQUEST_SEQ')).toBe(true);
    expect(error.retriable).toBe(false);
    expect(error.details.written).toBe('unknown');
    expect(window.admit(key('a', 5), 0).kind).toBe('fresh');
  });

  it('refuses a sequence that skips more than the window, written false', () => {
    const window = new DedupWindow(BOUNDS);
    window.admit(key('a', 1), 0);
    const error = refusal(() => window.admit(key('a', 18), 0));
    expect(hasCode(error, 'INVALID_REQUEST_SEQ')).toBe(true);
    expect(error.details.written).toBe(false);
    expect(window.admit(key('a', 17), 0).kind).toBe('fresh');
  });

  it('refuses a repeat of an answer older than maxAgeMs instead of writing it again', () => {
    const window = new DedupWindow(BOUNDS);
    const first = window.admit(key('a', 1), 0);
    if (first.kind === 'fresh') first.settle(result(1));
    window.admit(key('a', 2), 30_000);
    const error = refusal(() => window.admit(key('a', 1), 60_001));
    expect(error.details.written).toBe('unknown');
  });

  it('forgets a producer idle longer than maxAgeMs, and the least recently active beyond maxProducers', () => {
    const window = new DedupWindow({ ...BOUNDS, maxProducers: 2 });
    const written = (producerId: string, atMs: number): void => {
      const admission = window.admit(key(producerId, 1), atMs);
      if (admission.kind === 'fresh') admission.settle(result(1));
    };
    written('a', 0);
    written('b', 10);
    written('c', 20);
    expect(window.producerCount).toBe(2);
    const again = window.admit(key('a', 1), 30);
    expect(again.kind, 'a left when c came').toBe('fresh');
    if (again.kind === 'fresh') again.settle(result(1));
    written('d', 100_000);
    expect(window.producerCount).toBe(1);
  });

  it('loads appends found in the log as answers, the first copy winning', () => {
    const window = new DedupWindow(BOUNDS);
    window.load(key('a', 3), result(3), 0, 0);
    window.load(key('a', 3), result(4), 0, 0);
    expect(window.admit(key('a', 3), 1)).toEqual({ kind: 'done', result: result(3) });
  });

  it('hands answers and appends in flight over to a rebuilt window; the log wins, unknowns stay behind', async () => {
    const old = new DedupWindow(BOUNDS);
    const inFlight = old.admit(key('a', 1), 0);
    const answered = old.admit(key('a', 2), 0);
    if (answered.kind === 'fresh') answered.settle(result(2));
    const unknown = old.admit(key('a', 3), 0);
    if (unknown.kind === 'fresh') unknown.fail('unknown');
    const rebuilt = new DedupWindow(BOUNDS);
    rebuilt.load(key('a', 2), result(20), 0, 0);
    old.handOverTo(rebuilt);
    expect(rebuilt.admit(key('a', 2), 1)).toEqual({ kind: 'done', result: result(20) });
    expect(rebuilt.admit(key('a', 3), 1).kind).toBe('fresh');
    expect(rebuilt.admit(key('a', 1), 1).kind).toBe('pending');
    if (inFlight.kind === 'fresh') inFlight.settle(result(1));
    await Promise.resolve();
    await Promise.resolve();
    expect(rebuilt.admit(key('a', 1), 2)).toEqual({ kind: 'done', result: result(1) });
  });
});

/** `NUM_RUNS=500` for a soak. */
const NUM_RUNS = process.env.NUM_RUNS ? Number(process.env.NUM_RUNS) : 150;

type Command =
  /** A try of (producer, sequence): a first append or any retry of it. */
  | { kind: 'try'; producer: number; sequence: number }
  /** The write of the oldest try in flight ends: written, lost before writing, or either with an unknown outcome. */
  | { kind: 'end'; pick: number; outcome: 'written' | 'not-written' | 'written-unknown' | 'lost-unknown' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('try' as const),
      producer: fc.nat(1),
      sequence: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      pick: fc.nat(20),
      outcome: fc.constantFrom('written', 'written', 'not-written', 'written-unknown', 'lost-unknown'),
    }),
  },
);

interface LogEntry {
  readonly producerId: string;
  readonly sequence: bigint;
  readonly result: AppendResult;
}

/**
 * The node's use of the window (as IdempotentAppends does it), over a log that is an array: a try admits,
 * writes when fresh, waits when pending, and on an unknown outcome rebuilds the window from the log.
 */
class Harness {
  readonly bounds: DedupBounds;
  window: DedupWindow;
  readonly log: LogEntry[] = [];
  readonly writes: {
    key: ProducerSequence;
    settle(r: AppendResult): void;
    fail(o: 'not-written' | 'unknown'): void;
  }[] = [];
  readonly answers: { key: ProducerSequence; result: AppendResult }[] = [];
  readonly seen = { repeats: 0, waits: 0, rebuilds: 0, refusals: 0 };
  readonly tries: Promise<void>[] = [];

  constructor(bounds: DedupBounds = BOUNDS) {
    this.bounds = bounds;
    this.window = new DedupWindow(bounds);
  }

  try(key: ProducerSequence): void {
    this.tries.push(this.#attempt(key));
  }

  end(pick: number, outcome: Command & { kind: 'end' } extends { outcome: infer O } ? O : never): void {
    if (this.writes.length === 0) return;
    const [write] = this.writes.splice(pick % this.writes.length, 1);
    if (!write) return;
    if (outcome === 'written' || outcome === 'written-unknown') {
      const entry = { ...write.key, result: result(this.log.length + 1) };
      this.log.push(entry);
      if (outcome === 'written') write.settle(entry.result);
      else write.fail('unknown');
    } else write.fail(outcome === 'not-written' ? 'not-written' : 'unknown');
  }

  async #attempt(key: ProducerSequence): Promise<void> {
    for (;;) {
      let admission: ReturnType<DedupWindow['admit']>;
      try {
        admission = this.window.admit(key, 0);
      } catch (error) {
        if (!WalError.is(error) || !hasCode(error, 'INVALID_REQUEST_SEQ')) throw error;
        this.seen.refusals++;
        return;
      }
      if (admission.kind === 'done') {
        this.seen.repeats++;
        this.answers.push({ key, result: admission.result });
        return;
      }
      if (admission.kind === 'pending') {
        this.seen.waits++;
        const outcome = await admission.settled;
        if (typeof outcome !== 'string') {
          this.answers.push({ key, result: outcome });
          return;
        }
        continue;
      }
      if (admission.kind === 'unknown') {
        this.seen.rebuilds++;
        const rebuilt = new DedupWindow(this.bounds);
        for (const entry of this.log) rebuilt.load(entry, entry.result, 0, 0);
        this.window.handOverTo(rebuilt);
        this.window = rebuilt;
        continue;
      }
      const outcome = await new Promise<AppendResult | 'not-written' | 'unknown'>((resolve) => {
        this.writes.push({
          key,
          settle: (r) => {
            admission.settle(r);
            resolve(r);
          },
          fail: (o) => {
            admission.fail(o);
            resolve(o);
          },
        });
      });
      // The caller of a failed try gets the failure; its retry is a later `try` command.
      if (typeof outcome !== 'string') this.answers.push({ key, result: outcome });
      return;
    }
  }
}

async function turns(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('DedupWindow under any interleaving of retries and fresh appends', () => {
  it('writes each sequence at most once, and every answer is the result of that one write', async () => {
    const totals = { repeats: 0, waits: 0, rebuilds: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 60 }), async (commands) => {
        const harness = new Harness();
        for (const c of commands) {
          if (c.kind === 'try') harness.try(key(`p${c.producer}`, c.sequence));
          else harness.end(c.pick, c.outcome);
          await turns();
        }
        // Every write still in flight lands, so every try ends.
        while (harness.writes.length > 0) {
          harness.end(0, 'written');
          await turns();
        }
        await Promise.all(harness.tries);
        const written = new Map<string, AppendResult>();
        for (const entry of harness.log) {
          const id = `${entry.producerId}#${entry.sequence}`;
          expect(written.has(id), `${id} written twice`).toBe(false);
          written.set(id, entry.result);
        }
        for (const answer of harness.answers) {
          expect(answer.result).toEqual(written.get(`${answer.key.producerId}#${answer.key.sequence}`));
        }
        totals.repeats += harness.seen.repeats;
        totals.waits += harness.seen.waits;
        totals.rebuilds += harness.seen.rebuilds;
      }),
      { numRuns: NUM_RUNS },
    );
    // The interesting cases were generated: repeats answered from the window, repeats that waited for the
    // first try in flight, and unknown outcomes settled by reading the log again.
    expect(totals.repeats).toBeGreaterThan(5);
    expect(totals.waits).toBeGreaterThan(20);
    expect(totals.rebuilds).toBeGreaterThan(10);
  });

  it('with a window smaller than the sequences used: refuses what fell out of it, still writes nothing twice', async () => {
    const small: DedupBounds = { maxSequences: 3, maxAgeMs: 60_000, maxProducers: 100 };
    const wide = command.map((c) => (c.kind === 'try' ? { ...c, sequence: c.sequence * 2 } : c));
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(wide, { minLength: 1, maxLength: 60 }), async (commands) => {
        const harness = new Harness(small);
        for (const c of commands) {
          if (c.kind === 'try') harness.try(key(`p${c.producer}`, c.sequence));
          else harness.end(c.pick, c.outcome);
          await turns();
        }
        while (harness.writes.length > 0) {
          harness.end(0, 'written');
          await turns();
        }
        await Promise.all(harness.tries);
        const ids = harness.log.map((entry) => `${entry.producerId}#${entry.sequence}`);
        expect(new Set(ids).size).toBe(ids.length);
        for (const answer of harness.answers) {
          const entry = harness.log.find(
            (e) => e.producerId === answer.key.producerId && e.sequence === answer.key.sequence,
          );
          expect(answer.result).toEqual(entry?.result);
        }
        refusals += harness.seen.refusals;
      }),
      { numRuns: NUM_RUNS },
    );
    expect(refusals, 'sequences below the window were tried').toBeGreaterThan(20);
  });
});
