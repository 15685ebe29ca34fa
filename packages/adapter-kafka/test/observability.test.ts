import { type BackgroundErrorEvent, DeliverPolicy, pchannel } from '@walstream/core';
import { createObservability, type WalImplsOpener } from '@walstream/core/spi';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  adapterFor,
  DRIVERS,
  message,
  showBrokerLogOnFailure,
  stealProducerEpoch,
  uniqueChannel,
} from './helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});
beforeEach(() => showBrokerLogOnFailure());

describe.each(DRIVERS)('kafka observability (%s)', (driver) => {
  test('an epoch taken back in the background is reported (component, pchannel, retrying); open and close are logged', async () => {
    const lines: LogLine[] = [];
    const events: BackgroundErrorEvent[] = [];
    const observability = createObservability({
      logger: recordingLogger(lines),
      onError: (e) => events.push(e),
    });
    const opener = await adapterFor(driver, { takeoverGraceMs: 0 }).build({ observability });
    openers.push(opener);
    const name = uniqueChannel('observed');
    const owner = await opener.open({ channel: pchannel(name, 5n) });
    await owner.append(message(1));
    // A producer of the same transactional id bumps the epoch: the owner's next append hits a fenced
    // producer, checks the term, takes the epoch back and lands. Nobody awaits that recovery.
    const thief = await stealProducerEpoch(name);
    try {
      await owner.append(message(2));
    } finally {
      await thief.disconnect();
    }
    const taken = events.find((event) => event.component === 'kafka.writer');
    expect(taken, JSON.stringify(events.map((e) => e.error.message))).toMatchObject({
      component: 'kafka.writer',
      pchannel: name,
      retrying: true,
    });
    const warned = lines.find((line) => line.level === 'warn' && line.fields.component === 'kafka.writer');
    expect(warned?.fields).toMatchObject({ adapter: 'kafka', pchannel: name });
    await owner.close();
    const texts = lines.map((line) => line.message);
    expect(texts).toContain('kafka WAL opened');
    expect(texts).toContain('kafka WAL closed');
    if (driver === 'kafkajs') {
      // kafkajs's own lines reach the stack's logger too.
      expect(lines.some((line) => line.fields.component === 'kafkajs')).toBe(true);
    }
    const scanner = await (await opener.open({ channel: pchannel(name, 5n, 'ro') })).read({
      name: 'check',
      deliverPolicy: DeliverPolicy.all(),
    });
    const seen: string[] = [];
    for await (const delivered of scanner) {
      seen.push(delivered.properties.seq ?? '?');
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['1', '2']);
  });
});
