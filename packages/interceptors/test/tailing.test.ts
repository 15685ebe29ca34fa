import { memoryAdapter } from '@walstream/adapter-memory';
import {
  type AppendResult,
  DeliverFilter,
  DeliverPolicy,
  type ImmutableMessage,
  type MutableMessage,
  pchannel,
  type Wal,
  WalError,
} from '@walstream/core';
import type { InterceptorBuilder } from '@walstream/core/spi';
import { createVChannel } from '@walstream/interceptors';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deferred } from '../src/util/signal.js';
import { Coverage, isTick, Note, note, PCHANNEL, StoreGate, semanticsStack, stored } from './support.js';

const NUM_RUNS = process.env.NUM_RUNS ? Number(process.env.NUM_RUNS) : 15;

const seqOf = (message: MutableMessage | ImmutableMessage): string | undefined =>
  message.messageType === Note.code ? message.properties.seq : undefined;

/** What a reader's deliveries say, ticks left out (a tailing reader also gets ticks that were not written). */
const plain = (messages: readonly ImmutableMessage[]): string[] =>
  messages.filter((m) => !isTick(m)).map((m) => `${m.messageType}@${m.timeTick}#${m.id.marshal()}`);

/** Reads `wal` with `options` until a TimeTick at or above `untilTimeTick` was delivered (bounded). */
async function readUntilTick(
  wal: Wal,
  options: Parameters<Wal['read']>[0],
  untilTimeTick: bigint,
): Promise<ImmutableMessage[]> {
  const seen: ImmutableMessage[] = [];
  await using scanner = await wal.read({ ...options, signal: AbortSignal.timeout(10_000) });
  for await (const message of scanner) {
    seen.push(message);
    if (isTick(message) && message.timeTick >= untilTimeTick) return seen;
  }
  throw new Error(`the reader ended before a TimeTick at ${untilTimeTick}`);
}

/** An interceptor whose graceful close waits for `until`: the WAL keeps its readers open meanwhile. */
function holdClose(until: Promise<void>): InterceptorBuilder {
  return {
    name: 'hold-close',
    build: async () => ({
      name: 'hold-close',
      doAppend: (message, context, next) => next(message, context),
      gracefulClose: () => until,
    }),
  };
}

interface Scenario {
  /** Notes appended once the reader tails, before the appends of unknown outcome. */
  readonly before: number;
  /** One per append of unknown outcome: whether its first attempt was written (its ack lost) or not. */
  readonly unknown: readonly boolean[];
  /** Notes appended (and acknowledged) while those are still retried. */
  readonly after: number;
}

interface Played {
  /** The tailing reader's deliveries, up to the final TimeTick. */
  readonly tailed: readonly ImmutableMessage[];
  /** A reader of the store's deliveries (read-only WAL), up to the final TimeTick. */
  readonly fromStore: readonly ImmutableMessage[];
  /** The appends of unknown outcome that are in the store. */
  readonly landed: readonly ImmutableMessage[];
  readonly finalTick: ImmutableMessage;
  /** Store readers the tailing reader opened after the appends of unknown outcome. */
  readonly storeReadsAfter: number;
  /** A read-only WAL of the pchannel, to resume on. */
  readonly ro: Wal;
  close(): Promise<void>;
}

/**
 * A tailing reader follows the WAL while appends lose their acknowledgement (or fail without a word on
 * what they left) and are retried; a graceful close cuts the retries short ("may have landed") and its
 * final TimeTick covers them. The close waits until the tailing reader delivered that TimeTick.
 */
async function play(scenario: Scenario): Promise<Played> {
  const gate = new StoreGate();
  const closeMayFinish = deferred();
  const stack = await semanticsStack(
    {},
    { adapter: gate.adapter(memoryAdapter()) },
    { innermost: [holdClose(closeMayFinish.promise)] },
  );
  const wal = await stack.open(1n);
  await wal.append(createVChannel('ps_av0'));
  const first = await wal.append(note('ps_av0', 1));

  const tailing = await wal.read({ deliverPolicy: DeliverPolicy.all() });
  const delivered: ImmutableMessage[] = [];
  const consumed = (async () => {
    for await (const message of tailing) delivered.push(message);
  })();
  // It met a TimeTick the write-ahead buffer holds, so it tails the buffer: no store reader is left.
  await expect.poll(() => delivered.some((m) => isTick(m) && m.timeTick >= first.timeTick)).toBe(true);
  await expect.poll(() => stack.adapter.store.stats(PCHANNEL).openScanners).toBe(0);

  let maxTimeTick = first.timeTick;
  const acknowledged = (result: AppendResult): void => {
    if (result.timeTick > maxTimeTick) maxTimeTick = result.timeTick;
  };
  for (let i = 0; i < scenario.before; i++) acknowledged(await wal.append(note('ps_av0', 100 + i)));

  // Each append of unknown outcome: the first attempt is written and loses its ack, or fails saying
  // nothing of what it left; either way the runtime retries it, and the retry waits in the store.
  const retries: ReturnType<StoreGate['hold']>[] = [];
  const unknown: Promise<AppendResult>[] = [];
  for (const [j, written] of scenario.unknown.entries()) {
    const seq = String(200 + j);
    const attempt = gate.hold((m) => seqOf(m) === seq);
    const retry = gate.hold((m) => seqOf(m) === seq);
    unknown.push(wal.append(note('ps_av0', 200 + j)));
    const message = await attempt.arrived;
    if (message.timeTick! > maxTimeTick) maxTimeTick = message.timeTick!;
    if (written) attempt.loseAck();
    else attempt.fail(new WalError('UNAVAILABLE', 'connection dropped with the append in flight'));
    await retry.arrived;
    retries.push(retry);
  }
  for (let i = 0; i < scenario.after; i++) acknowledged(await wal.append(note('ps_av0', 300 + i)));

  const readsBefore = gate.reads;
  const closed = wal.close();
  for (const retry of retries) {
    retry.fail(new WalError('UNAVAILABLE', 'store unreachable', { details: { written: false } }));
  }
  for (const append of unknown) {
    await expect(append).rejects.toMatchObject({ code: 'ON_SHUTDOWN', retriable: false });
  }
  await expect.poll(() => stored(stack).some((m) => isTick(m) && m.timeTick > maxTimeTick)).toBe(true);
  const finalTick = stored(stack).at(-1)!;
  expect(isTick(finalTick)).toBe(true);
  await expect.poll(() => delivered.some((m) => isTick(m) && m.timeTick >= finalTick.timeTick)).toBe(true);
  const storeReadsAfter = gate.reads - readsBefore;
  closeMayFinish.resolve();
  await closed;
  await consumed;

  const ro = await stack.opener.open({ channel: pchannel(PCHANNEL, 1n, 'ro') });
  const fromStore = await readUntilTick(ro, { deliverPolicy: DeliverPolicy.all() }, finalTick.timeTick);
  const landedSeqs = new Set(scenario.unknown.flatMap((written, j) => (written ? [String(200 + j)] : [])));
  return {
    tailed: delivered.filter((m) => !isTick(m) || m.timeTick <= finalTick.timeTick),
    fromStore,
    landed: fromStore.filter((m) => landedSeqs.has(seqOf(m) ?? '')),
    finalTick,
    storeReadsAfter,
    ro,
    close: () => stack.close(),
  };
}

/** Resumes on the store from every delivery of the tailing reader; each must give exactly what followed. */
async function resumeFromEveryTailedDelivery(played: Played): Promise<number> {
  let resumes = 0;
  for (const [index, from] of played.tailed.entries()) {
    if (from.timeTick >= played.finalTick.timeTick) continue; // nothing follows the final tick in the store
    const rest = await readUntilTick(
      played.ro,
      {
        deliverPolicy: DeliverPolicy.startFrom(from.lastConfirmedId),
        filters: [DeliverFilter.timeTickGT(from.timeTick)],
      },
      played.finalTick.timeTick,
    );
    expect(plain(rest)).toEqual(plain(played.tailed.slice(index + 1)));
    resumes++;
  }
  return resumes;
}

/** The regression of the issue: one append, written, its acknowledgement lost, retried until the close. */
const ONE_LANDED: Scenario = { before: 1, unknown: [true], after: 1 };

describe('tailing and store readers of one WAL', () => {
  it('deliver the same sequence when an append of unknown outcome landed and the final TimeTick covers it', async () => {
    const played = await play(ONE_LANDED);
    expect(played.landed).toHaveLength(1);
    expect(plain(played.tailed)).toEqual(plain(played.fromStore));
    await played.close();
  });

  it('resuming from any delivery of a tailing reader gives exactly the rest, the append of unknown outcome included', async () => {
    const played = await play(ONE_LANDED);
    expect(await resumeFromEveryTailedDelivery(played)).toBeGreaterThan(3);
    await played.close();
  });

  it('property: over appends of unknown outcome that landed or not, tailing and store readers agree and resume exactly', async () => {
    const coverage = new Coverage();
    const property = fc.asyncProperty(
      fc.record({
        before: fc.nat(3),
        unknown: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
        after: fc.nat(3),
      }),
      async (scenario) => {
        const played = await play(scenario);
        expect(played.landed).toHaveLength(scenario.unknown.filter(Boolean).length);
        expect(plain(played.tailed)).toEqual(plain(played.fromStore));
        await resumeFromEveryTailedDelivery(played);
        if (scenario.unknown.some((written) => written)) coverage.add('an append of unknown outcome landed');
        if (scenario.unknown.some((written) => !written))
          coverage.add('an append of unknown outcome did not');
        if (scenario.after > 0) coverage.add('acknowledged appends after them');
        if (played.storeReadsAfter > 0) coverage.add('the tailing reader went back to the store');
        await played.close();
      },
    );
    await fc.assert(property, { numRuns: NUM_RUNS, examples: [[ONE_LANDED]] });
    coverage.require(
      1,
      'an append of unknown outcome landed',
      'an append of unknown outcome did not',
      'acknowledged appends after them',
      'the tailing reader went back to the store',
    );
  });
});
