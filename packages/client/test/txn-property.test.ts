/**
 * Transactions and plain appends interleaved at random on one vchannel of an embedded service: what a
 * reader sees is exactly the plain notes and the committed txns — each whole, its bodies in the order they
 * were appended, at its commit's timetick — in timetick order, and nothing of a rolled-back txn.
 */
import { type ImmutableMessage, ImmutableTxnMessage, SystemMessageType, vchannelName } from '@walstream/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Client, createClient } from '../src/index.js';
import { note, seqOf } from './support/cluster.js';

let client: Client;
beforeAll(async () => {
  client = await createClient({ embedded: { pchannels: ['txp'], memory: true } });
});
afterAll(async () => {
  await client?.close();
});

interface TxnPlan {
  readonly bodies: number;
  readonly parallel: boolean;
  readonly end: 'commit' | 'rollback';
}

/** What a reader should see: a plain note or a committed txn's bodies, at a timetick. */
interface Visible {
  readonly timeTick: bigint;
  readonly seqs: readonly number[];
}

async function readAll(vchannel: string, lastSeq: number): Promise<ImmutableMessage[]> {
  const read: ImmutableMessage[] = [];
  for await (const message of client.read(vchannel, { signal: AbortSignal.timeout(15_000) })) {
    if (message.messageType === SystemMessageType.TimeTick) continue;
    read.push(message);
    if (seqOf(message) === lastSeq) break;
  }
  return read;
}

describe('client txn (property)', () => {
  test('readers see plain notes and committed txns whole, in timetick order, and nothing of rolled-back txns', async () => {
    let run = 0;
    let withBoth = 0;
    let concurrentCommits = 0;
    let parallelCommits = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            bodies: fc.integer({ min: 0, max: 4 }),
            parallel: fc.boolean(),
            end: fc.constantFrom('commit', 'rollback'),
          }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        fc.integer({ min: 0, max: 3 }),
        async (plans: TxnPlan[], plainCount: number) => {
          const vchannel = vchannelName('txp', `r${run++}`);
          await client.createVChannel(vchannel);
          let nextSeq = 0;
          const expected: Visible[] = [];
          // Every txn and every plain appender run at once.
          const txns = plans.map(async (plan) => {
            const txn = await client.txn(vchannel);
            const seqs = Array.from({ length: plan.bodies }, () => nextSeq++);
            // Sequential bodies are awaited one by one; parallel ones are all sent and the commit (or
            // rollback) is called at once, without waiting for them: the txn must wait for them itself.
            const bodies: { seq: number; timeTick: Promise<bigint> }[] = [];
            for (const seq of seqs) {
              const sent = txn.append(note(vchannel, seq)).then((r) => r.timeTick);
              if (!plan.parallel) await sent;
              bodies.push({ seq, timeTick: sent });
            }
            if (plan.end === 'rollback') {
              await txn.rollback();
              await Promise.all(bodies.map((b) => b.timeTick));
              return;
            }
            const committed = await txn.commit();
            const landed = await Promise.all(bodies.map(async (b) => ({ seq: b.seq, tt: await b.timeTick })));
            // The bodies of a txn are read in the order they landed; a txn without bodies is read as a unit of none.
            landed.sort((a, b) => (a.tt < b.tt ? -1 : 1));
            expected.push({ timeTick: committed.timeTick, seqs: landed.map((b) => b.seq) });
          });
          const plains = Array.from({ length: plainCount }, async () => {
            const seq = nextSeq++;
            const result = await client.append(note(vchannel, seq));
            expected.push({ timeTick: result.timeTick, seqs: [seq] });
          });
          await Promise.all([...txns, ...plains]);
          const last = nextSeq++;
          const marker = await client.append(note(vchannel, last));
          expected.push({ timeTick: marker.timeTick, seqs: [last] });
          expected.sort((a, b) => (a.timeTick < b.timeTick ? -1 : a.timeTick > b.timeTick ? 1 : 0));

          const read = await readAll(vchannel, last);
          const seen: Visible[] = read.flatMap((m) => {
            if (m instanceof ImmutableTxnMessage) {
              return [{ timeTick: m.timeTick, seqs: m.bodies.map((b) => seqOf(b) ?? -1) }];
            }
            const seq = seqOf(m);
            return seq === undefined ? [] : [{ timeTick: m.timeTick, seqs: [seq] }];
          });
          expect(seen).toEqual(expected);
          const ends = new Set(plans.filter((p) => p.bodies > 0).map((p) => p.end));
          if (ends.size === 2) withBoth++;
          if (plans.filter((p) => p.end === 'commit' && p.bodies > 1).length > 1) concurrentCommits++;
          if (plans.some((p) => p.end === 'commit' && p.parallel && p.bodies > 1)) parallelCommits++;
        },
      ),
      { numRuns: 25 },
    );
    // The runs did include the interesting cases: committed and rolled-back txns side by side, several
    // multi-message txns committing at once, and commits called with their bodies still in flight.
    expect(withBoth).toBeGreaterThan(0);
    expect(concurrentCommits).toBeGreaterThan(0);
    expect(parallelCommits).toBeGreaterThan(0);
  }, 60_000);
});
