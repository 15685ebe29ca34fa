import {
  appendOutcome,
  DeliverPolicy,
  hasCode,
  type ImmutableMessage,
  type MessageID,
  MutableMessage,
  pchannel,
} from '@walstream/core';
import type { RawScanner, WalImpls, WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, test } from 'vitest';
import { adapter, brokerLog, uniqueName, waitFor } from './env.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.allSettled(openers.splice(0).map((opener) => opener.close()));
});

async function opener(): Promise<WalImplsOpener> {
  const built = await adapter().build();
  openers.push(built);
  return built;
}

function message(writer: string, seq: number): MutableMessage {
  return new MutableMessage(new TextEncoder().encode(`${writer}-${seq}`), { writer, seq: String(seq) });
}

async function readUntil(
  scanner: RawScanner,
  done: (m: ImmutableMessage) => boolean,
): Promise<ImmutableMessage[]> {
  const got: ImmutableMessage[] = [];
  for await (const m of scanner) {
    got.push(m);
    if (done(m)) break;
  }
  return got;
}

describe('fencing through the exclusive producer and the topic epoch', () => {
  test('a writer racing a higher-term open: acknowledged appends land, fenced ones do not, and none follows the new term', async () => {
    const name = uniqueName('fence-race');
    const old = await (await opener()).open({ channel: pchannel(name, 1n) });
    const acknowledged: { id: MessageID; seq: number }[] = [];
    /** Rejected CHANNEL_FENCED with written=false: never written, so never in the log. */
    const fenced: number[] = [];
    /** Rejected with written='unknown': written without a receipt, may or may not be in the log. */
    const unknown = new Set<number>();
    let fencedError: unknown;
    // Keep up to 32 appends in flight until the writer learns it was fenced.
    const writing = (async () => {
      let seq = 0;
      const inFlight = new Set<Promise<void>>();
      while (fencedError === undefined) {
        const mine = seq++;
        const p = old.append(message('old', mine)).then(
          (id) => {
            acknowledged.push({ id, seq: mine });
          },
          (error: unknown) => {
            if (appendOutcome(error) === 'unknown') unknown.add(mine);
            else if (hasCode(error, 'CHANNEL_FENCED')) fenced.push(mine);
            if (!hasCode(error, 'UNAVAILABLE')) fencedError ??= error;
          },
        );
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size >= 32) await Promise.race(inFlight);
      }
      await Promise.allSettled(inFlight);
    })();
    // Let the old writer get going, then take the channel over from another node.
    await waitFor(
      () => acknowledged.length >= 200 || fencedError !== undefined,
      '200 acknowledged appends of the old writer',
    );
    expect(fencedError, 'the old writer failed before the takeover').toBeUndefined();
    const successor = await (await opener()).open({ channel: pchannel(name, 2n) });
    const first = await successor.append(message('new', 0));
    await writing;
    expect(hasCode(fencedError, 'CHANNEL_FENCED'), String(fencedError)).toBe(true);
    expect((fencedError as { retriable: boolean }).retriable).toBe(false);
    // An append after the fence was seen is never written.
    await expect(old.append(message('old', -1))).rejects.toSatisfy(
      (e: unknown) => hasCode(e, 'CHANNEL_FENCED') && appendOutcome(e) === 'not-written',
    );

    const end = await successor.append(message('new', 1));
    const scanner = await successor.read({ name: 'fence-check', deliverPolicy: DeliverPolicy.all() });
    const log = await readUntil(scanner, (m) => m.id.compare(end) === 0);
    const oldSeqs = log.filter((m) => m.properties.writer === 'old').map((m) => Number(m.properties.seq));
    // Every acknowledged append of the old writer is in the log, in order; besides them only appends
    // whose fate was reported unknown, and none that was rejected CHANNEL_FENCED as not written.
    const acked = new Set(acknowledged.map((a) => a.seq));
    expect(oldSeqs.filter((seq) => acked.has(seq))).toEqual([...acked].sort((a, b) => a - b));
    for (const seq of oldSeqs) expect(acked.has(seq) || unknown.has(seq), `old append ${seq}`).toBe(true);
    for (const seq of fenced) expect(oldSeqs).not.toContain(seq);
    // The writer learns of the fence through refused appends: not written, or written without a receipt
    // (unknown). Which of the two depends on where each send was when the broker fenced the producer.
    expect(fenced.length + unknown.size).toBeGreaterThan(0);
    for (let i = 1; i < oldSeqs.length; i++) expect(oldSeqs[i]!).toBeGreaterThan(oldSeqs[i - 1]!);
    // Every old message precedes the new term's first message.
    const firstNewAt = log.findIndex((m) => m.id.compare(first) === 0);
    expect(firstNewAt).toBe(oldSeqs.length);
    for (const ack of acknowledged) expect(log.some((m) => m.id.compare(ack.id) === 0)).toBe(true);
  }, 60_000);

  test('a stale open at a lower term is refused and the current writer goes on unharmed', async () => {
    const name = uniqueName('fence-stale');
    const current = await (await opener()).open({ channel: pchannel(name, 5n) });
    await current.append(message('current', 0));
    await expect((await opener()).open({ channel: pchannel(name, 4n) })).rejects.toSatisfy((e: unknown) =>
      hasCode(e, 'CHANNEL_FENCED'),
    );
    // The stale attempt made the broker close the current producer once; it re-attached on its own.
    const ids: MessageID[] = [];
    for (let i = 1; i <= 20; i++) ids.push(await current.append(message('current', i)));
    for (let i = 1; i < ids.length; i++) expect(ids[i]!.compare(ids[i - 1]!)).toBeGreaterThan(0);
  }, 60_000);

  test('reopening at the same term after a close writes on; a read-only WAL never writes', async () => {
    const name = uniqueName('fence-same');
    const o = await opener();
    const first: WalImpls = await o.open({ channel: pchannel(name, 3n) });
    const a = await first.append(message('w', 0));
    await first.close();
    const again = await o.open({ channel: pchannel(name, 3n) });
    const b = await again.append(message('w', 1));
    expect(b.compare(a)).toBeGreaterThan(0);
    const ro = await o.open({ channel: pchannel(name, 3n, 'ro') });
    await expect(ro.append(message('w', 2))).rejects.toSatisfy((e: unknown) => hasCode(e, 'READ_ONLY'));
    // A read-only open does not take the producer away from the writer.
    expect((await again.append(message('w', 3))).compare(b)).toBeGreaterThan(0);
  }, 60_000);

  test('takeover after takeover over writers with sends in flight: every higher-term open attaches', async () => {
    // The broker forgets that a topic has an exclusive producer when an evicted one is removed late
    // (it still had sends in flight), and then answers the next takeover with "existing shared
    // producers". Six takeovers in a row, each over a busy writer, must all succeed.
    const name = uniqueName('fence-chain');
    let writer = await (await opener()).open({ channel: pchannel(name, 1n) });
    for (let term = 2n; term <= 7n; term++) {
      const busy = writer;
      let takenOver = false;
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      // Keeps 64 sends in flight until the takeover is done, so the evicted producer has sends pending.
      const writing = (async () => {
        const inFlight = new Set<Promise<unknown>>();
        for (let seq = 0; !takenOver; seq++) {
          const p = busy.append(message(`t${term - 1n}`, seq)).catch(() => undefined);
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
          if (seq === 64) started();
          if (inFlight.size >= 64) await Promise.race(inFlight);
          // Once fenced, appends fail without I/O: let the takeover's I/O run.
          else await new Promise((resolve) => setImmediate(resolve));
        }
        await Promise.allSettled(inFlight);
      })();
      await running;
      writer = await (await opener()).open({ channel: pchannel(name, term) });
      takenOver = true;
      await writing;
      // The old writer learns it was fenced (a send written just before may first fail UNAVAILABLE).
      let verdict: unknown;
      for (let tries = 0; tries < 20 && !hasCode(verdict, 'CHANNEL_FENCED'); tries++) {
        verdict = await busy.append(message('stale', tries)).catch((error: unknown) => error);
        expect(hasCode(verdict, 'CHANNEL_FENCED') || hasCode(verdict, 'UNAVAILABLE'), String(verdict)).toBe(
          true,
        );
      }
      expect(hasCode(verdict, 'CHANNEL_FENCED'), String(verdict)).toBe(true);
    }
    // In the same broker state, a stale open is still refused and leaves the holder alone.
    await expect((await opener()).open({ channel: pchannel(name, 3n) })).rejects.toSatisfy((e: unknown) =>
      hasCode(e, 'CHANNEL_FENCED'),
    );
    await writer.append(message('last', 0));
  }, 120_000);

  test("an open below the topic epoch, with no producer attached, is refused by the broker's epoch check", async () => {
    const name = uniqueName('epoch-check');
    const owner = await (await opener()).open({ channel: pchannel(name, 5n) });
    await owner.append(message('owner', 0));
    // The topic keeps epoch 5 with no producer on it: only the epoch can refuse a term-4 writer now
    // (not "Topic has an existing exclusive producer", the refusal while a holder is attached).
    await owner.close();
    const refused = await (await opener()).open({ channel: pchannel(name, 4n) }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused, String(refused)).toMatchObject({
      code: 'CHANNEL_FENCED',
      retriable: false,
      details: { serverError: 'ProducerFenced' },
    });
    expect((refused as Error).message).toContain(
      'Topic epoch has already moved. Current epoch: 5, Producer epoch: 4',
    );
  });

  test("the broker log shows a higher term fencing out the lower term's producer and taking the epoch", async () => {
    // No "fenc" in this name: the "Fencing out" looked for below must be the broker's word, not the topic's.
    const name = uniqueName('takeover-log');
    const topic = `persistent://public/default/${name}`;
    const old = await (await opener()).open({ channel: pchannel(name, 1n) });
    await old.append(message('old', 0));
    const successor = await (await opener()).open({ channel: pchannel(name, 2n) });
    await successor.append(message('new', 0));
    // The broker's lines for this topic: the term-1 writer's producer fenced out, the epoch raised to 2.
    const fencedOut = new RegExp(`\\[${topic}\\] Fencing out producer .*producerName=walstream-${name}-t1-`);
    const epochTaken = new RegExp(`\\[${topic}\\] Updated topic epoch to 2 `);
    let log = '';
    await waitFor(async () => {
      log = await brokerLog(2_000);
      return fencedOut.test(log) && epochTaken.test(log);
    }, `the broker to log the takeover of ${topic}`).catch((error: unknown) => {
      const mine = log.split('\n').filter((line) => line.includes(name));
      throw new Error(`${String(error)}\nbroker lines naming the topic:\n${mine.join('\n')}`);
    });
  });
});
