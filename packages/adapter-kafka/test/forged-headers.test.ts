import { createWal, DeliverPolicy, type ImmutableMessage, pchannel } from '@walstream/core';
import { createObservability, type RawScanner } from '@walstream/core/spi';
import { walSemantics } from '@walstream/interceptors';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { beforeEach, describe, expect, test } from 'vitest';
import { adapterFor, bootstrap, DRIVERS, message, showBrokerLogOnFailure, uniqueChannel } from './helpers.js';

/**
 * Records another client writes with walstream's reserved headers: a `__ws` value that parsed as a stamp
 * of term 1295 under the old format (`zz.intruder`), and a bare `__ws.open` marker. Neither may fence
 * the pchannel nor vanish: the raw scanner delivers them as data and reports them, and the stack
 * reopens at the next term as if they were any foreign record.
 */
beforeEach(() => showBrokerLogOnFailure());

async function writeForeign(topic: string): Promise<void> {
  const kafka = new Kafka({ clientId: 'intruder', brokers: [bootstrap()], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: [
        { partition: 0, value: Buffer.from('intruder'), headers: { __ws: 'zz.intruder' } },
        { partition: 0, value: Buffer.alloc(0), headers: { __ws: 'zz.intruder', '__ws.open': '' } },
        { partition: 0, value: Buffer.alloc(0), headers: { '__ws.open': '' } },
      ],
    });
  } finally {
    await producer.disconnect();
  }
}

async function take(scanner: RawScanner, count: number): Promise<ImmutableMessage[]> {
  const got: ImmutableMessage[] = [];
  for await (const m of scanner) {
    got.push(m);
    if (got.length === count) break;
  }
  await scanner.close();
  return got;
}

describe.each(DRIVERS)('forged walstream headers (%s)', (driver) => {
  test('are delivered as data, warned about once, and never fence the raw WAL', async () => {
    const lines: LogLine[] = [];
    const observability = createObservability({ logger: recordingLogger(lines) });
    const opener = await adapterFor(driver).build({ observability });
    try {
      const name = uniqueChannel('forged');
      const wal = await opener.open({ channel: pchannel(name, 2n) });
      await wal.append(message(1));
      await writeForeign(name);
      // Term 3 opens although the forged stamp would have claimed term 1295.
      const next = await opener.open({ channel: pchannel(name, 3n) });
      await next.append(message(2));
      const got = await take(await next.read({ name: 'forged', deliverPolicy: DeliverPolicy.all() }), 5);
      expect(got.map((m) => Buffer.from(m.payload).toString())).toEqual([
        'payload-1',
        'intruder',
        '',
        '',
        'payload-2',
      ]);
      // Reserved headers never become properties.
      expect(got.slice(1, 4).map((m) => m.properties)).toEqual([{}, {}, {}]);
      const warnings = lines.filter(
        (line) => line.level === 'warn' && /not taken as walstream's own/.test(line.message ?? ''),
      );
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.fields).toMatchObject({ topic: name, scanner: 'forged' });
    } finally {
      await opener.close();
    }
  });

  test('the full stack reopens read-write at the next term past them', async () => {
    const name = uniqueChannel('forged-stack');
    const build = () =>
      createWal()
        .adapter(adapterFor(driver))
        .use(...walSemantics({ timeTick: { closeTimeoutMs: 200 } }))
        .build();
    {
      await using opener = await build();
      await opener.open({ channel: pchannel(name, 1n) });
    }
    await writeForeign(name);
    await using opener = await build();
    const wal = await opener.open({ channel: pchannel(name, 2n) });
    expect(wal.channel.term).toBe(2n);
  });
});
