import {
  type BackgroundErrorEvent,
  DeliverPolicy,
  hasCode,
  type ImmutableMessage,
  MutableMessage,
  pchannel,
} from '@walstream/core';
import { createObservability, type WalImplsOpener } from '@walstream/core/spi';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { afterEach, describe, expect, test } from 'vitest';
import { adapter, broker, uniqueName, waitFor } from './env.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.allSettled(openers.splice(0).map((opener) => opener.close()));
});

function message(seq: number): MutableMessage {
  return new MutableMessage(new TextEncoder().encode(`m-${seq}`), { seq: String(seq) });
}

function observed() {
  const lines: LogLine[] = [];
  const events: BackgroundErrorEvent[] = [];
  const observability = createObservability({
    logger: recordingLogger(lines),
    onError: (e) => events.push(e),
  });
  return { lines, events, observability };
}

describe('pulsar observability', () => {
  test('a topic unload: the producer and the reader report the loss (retrying) and log their recovery', async () => {
    const { lines, events, observability } = observed();
    const opener = await adapter().build({ observability });
    openers.push(opener);
    const name = uniqueName('unload');
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    await wal.append(message(1));
    const scanner = await wal.read({ name: 'tail', deliverPolicy: DeliverPolicy.latest() });
    const unloaded = await fetch(`${broker().adminUrl}/admin/v2/persistent/public/default/${name}/unload`, {
      method: 'PUT',
    });
    expect(unloaded.ok, `unload answered ${unloaded.status}`).toBe(true);
    const reported = (component: string) =>
      events.some((e) => e.component === component && e.pchannel === name && e.retrying);
    await waitFor(() => reported('pulsar.producer') && reported('pulsar.reader'), 'both losses reported');
    await waitFor(
      () => lines.some((l) => l.level === 'info' && /re-subscribed/.test(l.message ?? '')),
      'the reader back',
    );
    // Still working: what is appended after the unload reaches the tailing scanner.
    await wal.append(message(2));
    let next: ImmutableMessage | undefined;
    for await (const delivered of scanner) {
      next = delivered;
      break;
    }
    // Checked after the loop: a scanner that ended without a message fails here.
    expect(next?.properties.seq).toBe('2');
    const warned = lines.find((l) => l.level === 'warn' && l.fields.component === 'pulsar.reader');
    expect(warned?.fields).toMatchObject({ adapter: 'pulsar', pchannel: name, term: '1' });
    await wal.close();
    const texts = lines.map((l) => l.message);
    expect(texts).toContain('pulsar WAL opened');
    expect(texts).toContain('pulsar WAL closed');
  });

  test('a writer fenced by a newer term: its re-attach reports the loss (retrying), then the fence (not)', async () => {
    const { events, observability } = observed();
    const a = await adapter().build({ observability });
    const b = await adapter().build();
    openers.push(a, b);
    const name = uniqueName('fenced-bg');
    const old = await a.open({ channel: pchannel(name, 1n) });
    await old.append(message(1));
    await b.open({ channel: pchannel(name, 2n) });
    // The old writer's next send finds its attachment gone (UNAVAILABLE: written, no receipt, or
    // CHANNEL_FENCED); re-attaching in the background, it learns it lost the topic.
    await expect(old.append(message(2))).rejects.toSatisfy((error: unknown) =>
      hasCode(error, 'UNAVAILABLE', 'CHANNEL_FENCED'),
    );
    const seen = () => JSON.stringify(events.map((e) => [e.component, e.retrying, e.error.code]));
    await waitFor(
      () => events.some((e) => e.component === 'pulsar.producer' && !e.retrying),
      'the fence reported',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; events: ${seen()}`);
    });
    const fenced = events.find((e) => e.component === 'pulsar.producer' && !e.retrying)!;
    expect(fenced).toMatchObject({ pchannel: name, retrying: false });
    expect(fenced.error.code).toBe('CHANNEL_FENCED');
    expect(events.some((e) => e.component === 'pulsar.producer' && e.retrying)).toBe(true);
    await expect(old.append(message(3))).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
  });
});
