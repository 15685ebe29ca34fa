import {
  DeliverPolicy,
  hasCode,
  type ImmutableMessage,
  type MessageID,
  MutableMessage,
  pchannel,
} from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, test } from 'vitest';
import { adapter, uniqueName } from './env.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.allSettled(openers.splice(0).map((opener) => opener.close()));
});

function message(seq: number): MutableMessage {
  return new MutableMessage(new TextEncoder().encode(`m-${seq}`), { seq: String(seq) });
}

async function seqsUpTo(opener: WalImplsOpener, name: string, last: MessageID): Promise<string[]> {
  const wal = await opener.open({ channel: pchannel(name, 1n, 'ro') });
  const scanner = await wal.read({ name: 'abort-check', deliverPolicy: DeliverPolicy.all() });
  const seen: ImmutableMessage[] = [];
  for await (const m of scanner) {
    seen.push(m);
    if (m.id.compare(last) === 0) break;
  }
  return seen.map((m) => m.properties.seq!);
}

/**
 * An append's AbortSignal withdraws it only while it is not yet written to the broker: then it rejects
 * ABORTED and never lands. Once written it waits for its receipt, so a caller never gets ABORTED for a
 * message that is in the log (which would leave the stack above believing a landed message failed).
 */
describe('aborting an append', () => {
  test('aborted while it waits for room in the window: ABORTED, and it never lands', async () => {
    const opener = await adapter({ maxPendingMessages: 1 }).build();
    openers.push(opener);
    const name = uniqueName('abort-window');
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    const first = wal.append(message(1));
    const controller = new AbortController();
    // The window holds one send: this one waits for the first's receipt, which cannot arrive before
    // the abort below (it needs a turn of the event loop).
    const second = wal.append(message(2), { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    await expect(second).rejects.toSatisfy((error: unknown) => hasCode(error, 'ABORTED'));
    await first;
    const last = await wal.append(message(3));
    expect(await seqsUpTo(opener, name, last)).toEqual(['1', '3']);
  });

  test('aborted after it was written: it still resolves with its id, and it is in the log', async () => {
    const opener = await adapter().build();
    openers.push(opener);
    const name = uniqueName('abort-written');
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    await wal.append(message(0));
    const controller = new AbortController();
    // The producer is attached, so the send is written to the socket within this call.
    const written = wal.append(message(1), { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    const id = await written;
    const last = await wal.append(message(2));
    expect(id.compare(last)).toBeLessThan(0);
    expect(await seqsUpTo(opener, name, last)).toEqual(['0', '1', '2']);
  });
});
