import { fileURLToPath } from 'node:url';
import { DeliverPolicy, hasCode, type ImmutableMessage, MutableMessage, pchannel } from '@walstream/core';
import type { RawScanner } from '@walstream/core/spi';
import { runJava } from '@walstream/testkit/pulsar';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PulsarMessageId } from '../src/index.js';
import { PulsarAdmin } from '../src/protocol/admin.js';
import { PulsarClient } from '../src/protocol/client.js';
import { Reader } from '../src/protocol/reader.js';
import { adapter, broker, uniqueName } from './env.js';

const COUNT = 25;
const BATCH = 4;

async function take(scanner: RawScanner, count: number): Promise<ImmutableMessage[]> {
  const got: ImmutableMessage[] = [];
  if (count === 0) return got;
  for await (const m of scanner) {
    got.push(m);
    if (got.length === count) break;
  }
  return got;
}

/** "ledger:entry:partition:batchIndex" as Pulsar's Java client prints a MessageId. */
function parseJavaId(text: string): { ledgerId: bigint; entryId: bigint; batchIndex: number } {
  const [ledger, entry, , batch] = text.trim().split(':');
  return {
    ledgerId: BigInt(ledger!),
    entryId: BigInt(entry!),
    batchIndex: batch === undefined ? -1 : Number(batch),
  };
}

describe("entries written by Pulsar's Java client with batching", () => {
  const name = uniqueName('java-batches');
  const topic = `persistent://public/default/${name}`;
  let javaIds: { ledgerId: bigint; entryId: bigint; batchIndex: number }[] = [];

  beforeAll(async () => {
    const { serviceUrl, classpath, java } = broker();
    const result = await runJava(java, classpath, {
      main: fileURLToPath(new URL('./fixtures/BatchProducer.java', import.meta.url)),
      args: [serviceUrl, topic, String(COUNT), String(BATCH)],
      timeoutMs: 120_000,
    });
    if (result.code !== 0)
      throw new Error(`BatchProducer failed (${result.code}):\n${result.stderr.slice(-3000)}`);
    // Logging may share stdout: the ids are the lines that look like ids.
    javaIds = result.stdout
      .split('\n')
      .filter((line) => /^\d+:\d+:-?\d+(:-?\d+)?$/.test(line.trim()))
      .map(parseJavaId);
  }, 180_000);

  test('the Java client really batched', () => {
    expect(javaIds).toHaveLength(COUNT);
    expect(javaIds.some((id) => id.batchIndex > 0)).toBe(true);
  });

  test('all members are delivered in order with the ids and properties the writer got', async () => {
    const opener = await adapter().build();
    try {
      const wal = await opener.open({ channel: pchannel(name, 0n, 'ro') });
      const got = await take(await wal.read({ name: 'batches', deliverPolicy: DeliverPolicy.all() }), COUNT);
      expect(got.map((m) => m.properties.seq)).toEqual(javaIds.map((_, i) => String(i)));
      expect(got.map((m) => new TextDecoder().decode(m.payload))).toEqual(javaIds.map((_, i) => `java-${i}`));
      for (const [i, m] of got.entries()) {
        const id = m.id as PulsarMessageId;
        expect([id.ledgerId, id.entryId, id.batchIndex]).toEqual([
          javaIds[i]!.ledgerId,
          javaIds[i]!.entryId,
          javaIds[i]!.batchIndex,
        ]);
      }
      // startFrom / startAfter in the middle of a batch: the broker sends the whole entry, the reader
      // keeps from (inclusive) or after (exclusive) the member.
      const mid = got.find((m) => (m.id as PulsarMessageId).batchIndex === 2)!;
      const at = got.indexOf(mid);
      const from = await take(
        await wal.read({ name: 'from', deliverPolicy: DeliverPolicy.startFrom(mid.id) }),
        COUNT - at,
      );
      expect(from.map((m) => m.properties.seq)).toEqual(got.slice(at).map((m) => m.properties.seq));
      const after = await take(
        await wal.read({ name: 'after', deliverPolicy: DeliverPolicy.startAfter(mid.id) }),
        COUNT - at - 1,
      );
      expect(after.map((m) => m.properties.seq)).toEqual(got.slice(at + 1).map((m) => m.properties.seq));
    } finally {
      await opener.close();
    }
  });
});

describe('the protocol client on its own', () => {
  let client: PulsarClient;
  beforeAll(() => {
    client = new PulsarClient({ serviceUrl: broker().serviceUrl });
  });
  afterAll(async () => {
    await client.close();
  });

  async function seeded(count: number) {
    const name = uniqueName('raw');
    const opener = await adapter().build();
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    const ids: PulsarMessageId[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(
        (await wal.append(new MutableMessage(new Uint8Array([i]), { i: String(i) }))) as PulsarMessageId,
      );
    }
    await opener.close();
    return { topic: `persistent://public/default/${name}`, ids };
  }

  test('the broker starts a reader at the start entry (pins the inclusive start the adapter relies on)', async () => {
    const { topic, ids } = await seeded(6);
    const reader = await Reader.create(client, {
      topic,
      subscription: 'pin',
      start: { kind: 'id', id: ids[3]!.data, inclusive: true },
    });
    const first = await reader.receive();
    // Filtering can only drop messages: seeing ids[3] first means the broker delivered the start entry.
    expect(new PulsarMessageId(first.id).compare(ids[3]!)).toBe(0);
    await reader.close();
  });

  test('GET_LAST_MESSAGE_ID and SEEK', async () => {
    const { topic, ids } = await seeded(8);
    const reader = await Reader.create(client, {
      topic,
      subscription: 'seek',
      start: { kind: 'earliest' },
      receiverQueueSize: 2,
    });
    const last = await reader.getLastMessageId();
    expect(new PulsarMessageId(last).compare(ids[7]!)).toBe(0);
    expect((await reader.receive()).properties.i).toBe('0');
    await reader.seek(ids[5]!.data);
    expect((await reader.receive()).properties.i).toBe('5');
    await reader.seek(ids[1]!.data);
    const rest = [];
    for (let i = 1; i < 8; i++) rest.push((await reader.receive()).properties.i);
    expect(rest).toEqual(['1', '2', '3', '4', '5', '6', '7']);
    await reader.close();
  });

  test('FLOW permits bound what the broker pushes ahead of the consumer', async () => {
    const { topic } = await seeded(40);
    const reader = await Reader.create(client, {
      topic,
      subscription: 'flow',
      start: { kind: 'earliest' },
      receiverQueueSize: 5,
    });
    await reader.receive();
    // Give the broker every chance to overrun: a lookup round trip on the same connection after it.
    await client.lookup(topic);
    await client.lookup(topic);
    expect(reader.queued).toBeLessThanOrEqual(5);
    await reader.close();
  });
});

describe('coded errors', () => {
  test('an unreachable broker fails build with UNAVAILABLE', async () => {
    const dead = new PulsarClient({ serviceUrl: 'pulsar://127.0.0.1:1' });
    await expect(dead.connection()).rejects.toSatisfy((e: unknown) => hasCode(e, 'UNAVAILABLE'));
    await dead.close();
    const { adminUrl } = broker();
    await expect(adapterWith('pulsar://127.0.0.1:1', adminUrl).build()).rejects.toSatisfy((e: unknown) =>
      hasCode(e, 'UNAVAILABLE'),
    );
  });

  test('a missing topic reads as CHANNEL_NOT_EXIST; an unreachable admin API as UNAVAILABLE', async () => {
    const opener = await adapter().build();
    try {
      const ro = await opener.open({ channel: pchannel(uniqueName('missing'), 1n, 'ro') });
      await expect(ro.read({ name: 'r', deliverPolicy: DeliverPolicy.all() })).rejects.toSatisfy(
        (e: unknown) => hasCode(e, 'CHANNEL_NOT_EXIST'),
      );
    } finally {
      await opener.close();
    }
    const noAdmin = await adapterWith(broker().serviceUrl, 'http://127.0.0.1:1').build();
    try {
      await expect(noAdmin.open({ channel: pchannel(uniqueName('noadmin'), 1n) })).rejects.toSatisfy(
        (e: unknown) => hasCode(e, 'UNAVAILABLE'),
      );
    } finally {
      await noAdmin.close();
    }
  });

  test("a message above the broker's max message size is INVALID_ARGUMENT and the WAL goes on", async () => {
    const opener = await adapter().build();
    try {
      const wal = await opener.open({ channel: pchannel(uniqueName('big'), 1n) });
      await expect(wal.append(new MutableMessage(new Uint8Array(6 * 1024 * 1024), {}))).rejects.toSatisfy(
        (e: unknown) => hasCode(e, 'INVALID_ARGUMENT'),
      );
      await expect(wal.append(new MutableMessage(new Uint8Array(10), {}))).resolves.toBeDefined();
    } finally {
      await opener.close();
    }
  });

  test('admin errors carry codes', async () => {
    const admin = new PulsarAdmin(broker().adminUrl);
    await expect(
      admin.resetCursorAfter(`persistent://public/default/${uniqueName('nope')}`, 'x', {
        ledgerId: 1n,
        entryId: 1n,
        partition: -1,
        batchIndex: -1,
        batchSize: 0,
      }),
    ).rejects.toSatisfy((e: unknown) => hasCode(e, 'CHANNEL_NOT_EXIST'));
  });
});

function adapterWith(serviceUrl: string, adminUrl: string) {
  return adapter({ serviceUrl, adminUrl, operationTimeoutMs: 5_000 });
}
