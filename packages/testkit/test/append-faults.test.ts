import { memoryAdapter } from '@walstream/adapter-memory';
import { DeliverPolicy, hasCode, type MutableMessage, newMessage, pchannel } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { SemanticsNote, withAppendFaults } from '../src/index.js';

const note = (i: number): MutableMessage =>
  newMessage(SemanticsNote)
    .vchannel('v')
    .property('i', String(i))
    .body(new Uint8Array([i]))
    .build();

describe('withAppendFaults', () => {
  it('a failed append is UNAVAILABLE and never lands; the switch is per pchannel', async () => {
    const adapter = withAppendFaults(memoryAdapter());
    const opener = await adapter.build();
    const faulty = await opener.open({ channel: pchannel('faulty', 1n) });
    const clean = await opener.open({ channel: pchannel('clean', 1n) });
    adapter.switchOf('faulty').set({ appendErrorRate: 0.5 });

    const landed: number[] = [];
    let failed = 0;
    for (let i = 0; i < 60; i++) {
      const message = note(i).withTimeTick(BigInt(i + 1));
      try {
        await faulty.append(message);
        landed.push(i);
      } catch (error) {
        expect(hasCode(error, 'UNAVAILABLE')).toBe(true);
        failed++;
      }
      await clean.append(note(i).withTimeTick(BigInt(i + 1)));
    }
    expect(failed).toBeGreaterThan(0);
    expect(landed.length).toBeGreaterThan(0);

    adapter.switchOf('faulty').set({ appendErrorRate: 0 });
    const END = 999;
    for (const wal of [faulty, clean]) await wal.append(note(END).withTimeTick(1_000n));
    const read = async (wal: typeof faulty): Promise<number[]> => {
      const scanner = await wal.read({ name: `r-${wal.channel.name}`, deliverPolicy: DeliverPolicy.all() });
      const seen: number[] = [];
      for await (const message of scanner) {
        const i = Number(message.properties.i);
        if (i === END) break;
        seen.push(i);
      }
      await scanner.close();
      return seen;
    };
    // Exactly the acknowledged appends are in the log, in order; the other pchannel lost nothing.
    expect(await read(faulty)).toEqual(landed);
    expect(await read(clean)).toEqual([...Array(60).keys()]);
    await opener.close();
  });

  it('an append whose signal already fired is rejected ABORTED by the adapter, never by an injected fault', async () => {
    const adapter = withAppendFaults(memoryAdapter());
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('aborted', 1n) });
    adapter.switchOf('aborted').set({ appendErrorRate: 1 });
    for (let i = 0; i < 20; i++) {
      const outcome = wal.append(note(i).withTimeTick(BigInt(i + 1)), { signal: AbortSignal.abort() });
      await expect(outcome).rejects.toMatchObject({ code: 'ABORTED' });
    }
    await expect(wal.append(note(99).withTimeTick(100n))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await opener.close();
  });
});
