import { memoryAdapter } from '@walstream/adapter-memory';
import {
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
import { describe, expect, it } from 'vitest';
import { deferred } from '../src/util/signal.js';
import { isTick, Note, note, PCHANNEL, StoreGate, semanticsStack, stored } from './support.js';

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

describe('tailing and store readers of one WAL', () => {
  it('deliver the same sequence when an append of unknown outcome landed and the final TimeTick covers it; resuming from any tailing delivery gives exactly the rest', async () => {
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

    // The append is written but its acknowledgement is lost; its retry waits in the store.
    const lost = gate.hold((m) => seqOf(m) === '2');
    const retried = gate.hold((m) => seqOf(m) === '2');
    const unknown = wal.append(note('ps_av0', 2));
    await lost.arrived;
    lost.loseAck();
    await retried.arrived;
    const after = await wal.append(note('ps_av0', 3));

    // A graceful close cuts the retry short: "may have landed". It did, and the final TimeTick covers it.
    const closed = wal.close();
    retried.fail(new WalError('UNAVAILABLE', 'store unreachable', { details: { written: false } }));
    await expect(unknown).rejects.toMatchObject({ code: 'ON_SHUTDOWN', retriable: false });
    const landed = stored(stack).find((m) => seqOf(m) === '2');
    expect(landed).toBeDefined();
    const finalTick = await (async () => {
      await expect.poll(() => stored(stack).some((m) => isTick(m) && m.timeTick > after.timeTick)).toBe(true);
      return stored(stack).at(-1)!;
    })();
    expect(isTick(finalTick) && finalTick.timeTick > landed!.timeTick).toBe(true);
    await expect.poll(() => delivered.some((m) => isTick(m) && m.timeTick >= finalTick.timeTick)).toBe(true);
    closeMayFinish.resolve();
    await closed;
    await consumed;

    // Readers of the store: the same sequence as the tailing reader, the append of unknown outcome included.
    await using ro = await stack.opener.open({ channel: pchannel(PCHANNEL, 1n, 'ro') });
    const fromStore = await readUntilTick(ro, { deliverPolicy: DeliverPolicy.all() }, finalTick.timeTick);
    expect(plain(fromStore).some((entry) => entry.startsWith(`${Note.code}@${landed!.timeTick}#`))).toBe(
      true,
    );
    const tailed = delivered.filter((m) => !isTick(m) || m.timeTick <= finalTick.timeTick);
    expect(plain(tailed)).toEqual(plain(fromStore));

    // Resuming from any delivery of the tailing reader: exactly what it delivered after it.
    let resumes = 0;
    for (const [index, from] of tailed.entries()) {
      if (from.timeTick >= finalTick.timeTick) continue; // nothing follows the final tick in the store
      const rest = await readUntilTick(
        ro,
        {
          deliverPolicy: DeliverPolicy.startFrom(from.lastConfirmedId),
          filters: [DeliverFilter.timeTickGT(from.timeTick)],
        },
        finalTick.timeTick,
      );
      expect(plain(rest)).toEqual(plain(tailed.slice(index + 1)));
      resumes++;
    }
    expect(resumes).toBeGreaterThan(3);
    await stack.close();
  });
});
