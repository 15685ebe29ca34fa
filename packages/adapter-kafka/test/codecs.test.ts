import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KafkaDriverName } from '@walstream/adapter-kafka';
import {
  createWal,
  DeliverPolicy,
  decodeBody,
  defineMessageType,
  type ImmutableMessage,
  MutableMessage,
  newMessage,
  pchannel,
  vchannelName,
} from '@walstream/core';
import type { RawScanner } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { beforeAll, beforeEach, describe, expect, inject, test } from 'vitest';
import { CODECS as CODEC_TABLE, type KafkaCompression } from '../src/codecs/index.js';
import { adapterFor, bootstrap, DRIVERS, showBrokerLogOnFailure, uniqueChannel } from './helpers.js';

/**
 * The codec matrix on the real broker, on both drivers: batches written by Kafka's own Java producer
 * with each `compression.type` (read by the raw scanner, with what comes through of keys, binary headers
 * and tombstones), topics whose `compression.type` makes the broker recompress what walstream appends,
 * and the adapter's own `compression` option — both through the full stack, reopened read-write at the
 * next term. The last test runs Kafka's DumpLogSegments over every topic: each holds batches of the
 * codec its case is about.
 */
const run = promisify(execFile);
const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
const COUNT = 4;
/** Topic → the codec its batches must carry (DumpLogSegments' `compresscodec`). */
const expectedCodec = new Map<string, string>();

beforeEach(() => showBrokerLogOnFailure());

function java(): string {
  return (
    process.env.WALSTREAM_JAVA ||
    (process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java')
  );
}

/** The value KafkaCodecProducer.java writes for record `i`. */
function javaValue(i: number): string {
  return `walstream value ${i} `.repeat(1 + i * 5);
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

describe("batches written by Kafka's Java producer", () => {
  const prefix = uniqueChannel('jcodec');
  const written = new Map<string, number>();

  beforeAll(async () => {
    const { stdout } = await run(
      java(),
      [
        '-Xmx256m',
        '-cp',
        inject('kafkaClasspath'),
        fileURLToPath(new URL('./java/KafkaCodecProducer.java', import.meta.url)),
        bootstrap(),
        prefix,
        String(COUNT),
      ],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    for (const line of stdout.split('\n')) {
      const topic = /^(\S+) \d+$/.exec(line.trim())?.[1];
      if (topic) written.set(topic, (written.get(topic) ?? 0) + 1);
    }
    for (const codec of ['none', ...CODECS]) expectedCodec.set(`${prefix}-${codec}`, codec);
  }, 180_000);

  const cases = DRIVERS.flatMap((driver) => ['none', ...CODECS].map((codec) => ({ driver, codec })));
  test.each(cases)('$driver reads $codec: values, headers and the tombstone', async ({ driver, codec }) => {
    const topic = `${prefix}-${codec}`;
    expect(written.get(topic)).toBe(COUNT + 1);
    const opener = await adapterFor(driver).build();
    try {
      const wal = await opener.open({ channel: pchannel(topic, 0n, 'ro') });
      const got = await take(
        await wal.read({ name: 'codec', deliverPolicy: DeliverPolicy.all() }),
        COUNT + 1,
      );
      for (let i = 0; i < COUNT; i++) {
        expect(Buffer.from(got[i]!.payload).toString('utf8')).toBe(javaValue(i));
        // Record keys are not read; header values are read as UTF-8 text (bytes that are not UTF-8
        // become U+FFFD) — documented in docs/adapter-kafka.md, "Fidelity".
        expect(got[i]!.properties).toEqual({ seq: String(i), bin: `\ufffd\u0000${String.fromCharCode(i)}` });
      }
      // A tombstone (null value) reads as an empty payload without properties.
      expect(got[COUNT]!.payload.length).toBe(0);
      expect(got[COUNT]!.properties).toEqual({});
    } finally {
      await opener.close();
    }
  });

  test.each(
    DRIVERS,
  )('%s: the full stack opens each topic read-write past its foreign records, counting them', async (driver) => {
    for (const codec of ['none', ...CODECS]) {
      const topic = `${prefix}-${codec}`;
      const lines: LogLine[] = [];
      await using opener = await createWal({ logger: recordingLogger(lines) })
        .adapter(adapterFor(driver))
        .use(...walSemantics({ timeTick: { closeTimeoutMs: 200 } }))
        .build();
      // Both drivers take the same topics in turn: each at a term of its own.
      const term = BigInt(DRIVERS.indexOf(driver) + 1);
      const wal = await opener.open({ channel: pchannel(topic, term) });
      const notes = vchannelName(topic, `notes-${driver}`);
      await wal.append(createVChannel(notes));
      const { messageId } = await wal.append(newMessage(Note).vchannel(notes).body(`on ${codec}`).build());
      await using scanner = await wal.read({ vchannel: notes, deliverPolicy: DeliverPolicy.all() });
      const got: string[] = [];
      for await (const message of scanner) {
        if (message.messageType !== Note.code) continue;
        got.push(decodeBody(Note, message));
        if (message.id.compare(messageId) === 0) break;
      }
      expect(got).toEqual([`on ${codec}`]);
      // The recovery replay and the reader each warned once about the Java records they passed over.
      const skipped = lines.filter((line) => /not a walstream message/.test(line.message ?? ''));
      expect(skipped.map((line) => String(line.fields.reader).split(' ')[0])).toEqual([
        'recovery',
        'scanner',
      ]);
    }
  });
});

const Note = defineMessageType<string>({
  name: 'KafkaCodecNote',
  code: 7412,
  flags: {},
  codec: { encode: (s) => new TextEncoder().encode(s), decode: (b) => new TextDecoder().decode(b) },
});

/** Appends notes through the full stack, reopens read-write at the next term, reads them all back. */
async function roundTrip(driver: KafkaDriverName, name: string, extra: Parameters<typeof adapterFor>[1]) {
  const notes = vchannelName(name, 'notes');
  const build = () =>
    createWal()
      .adapter(adapterFor(driver, extra))
      .use(...walSemantics({ timeTick: { closeTimeoutMs: 200 } }))
      .build();
  // One note spans several 64 KiB compression blocks (lz4 frames, xerial snappy).
  const bodies = [0, 1, 2].map((i) => `note ${i} `.repeat(i === 2 ? 30_000 : 40));
  {
    await using opener = await build();
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    await wal.append(createVChannel(notes));
    for (const body of bodies) await wal.append(newMessage(Note).vchannel(notes).body(body).build());
  }
  await using opener = await build();
  const wal = await opener.open({ channel: pchannel(name, 2n) });
  const { messageId } = await wal.append(newMessage(Note).vchannel(notes).body('after reopen').build());
  await using scanner = await wal.read({ vchannel: notes, deliverPolicy: DeliverPolicy.all() });
  const got: string[] = [];
  for await (const message of scanner) {
    if (message.messageType !== Note.code) continue;
    got.push(decodeBody(Note, message));
    if (message.id.compare(messageId) === 0) break;
  }
  expect(got).toEqual([...bodies, 'after reopen']);
}

const stackCases = DRIVERS.flatMap((driver) => CODECS.map((codec) => ({ driver, codec })));

describe('a topic whose compression.type recompresses what walstream appends', () => {
  test.each(stackCases)('$driver, $codec: full stack, read back and reopened read-write', async ({
    driver,
    codec,
  }) => {
    const name = uniqueChannel(`topic-${codec}`);
    expectedCodec.set(name, codec);
    await roundTrip(driver, name, { topicConfig: { 'compression.type': codec } });
  });
});

describe('the compression option', () => {
  test.each(stackCases)('$driver, $codec: full stack, read back and reopened read-write', async ({
    driver,
    codec,
  }) => {
    const name = uniqueChannel(`own-${codec}`);
    expectedCodec.set(name, codec);
    await roundTrip(driver, name, { compression: codec as KafkaCompression });
  });
});

describe('a record batch that does not decode', () => {
  // The stored batch is fine; its decoder is made to fail, as it would on a damaged batch (a broker
  // validates what it is sent, so a damaged one cannot be produced). Before, kafkajs failed UNAVAILABLE
  // (retriable) and @platformatic/kafka retried the fetch 40 times (~67 s) before a retriable timeout.
  test.each(
    DRIVERS,
  )('%s: fails the scanner UNRECOVERABLE malformed-payload, not a retriable outage', async (driver) => {
    const name = uniqueChannel('undecodable');
    {
      const writer = await adapterFor(driver, { compression: 'snappy' }).build();
      try {
        const wal = await writer.open({ channel: pchannel(name, 1n) });
        await wal.append(new MutableMessage(Buffer.from('x'.repeat(1000)), {}));
      } finally {
        await writer.close();
      }
    }
    const reader = await adapterFor(driver).build();
    const codec = CODEC_TABLE.snappy as { decompress: (data: Buffer) => Buffer };
    const decompress = codec.decompress;
    codec.decompress = () => {
      throw new Error('damaged');
    };
    let thrown: unknown;
    try {
      const wal = await reader.open({ channel: pchannel(name, 1n, 'ro') });
      for await (const _ of await wal.read({ name: 'damaged', deliverPolicy: DeliverPolicy.all() })) break;
    } catch (error) {
      thrown = error;
    } finally {
      codec.decompress = decompress;
      await reader.close();
    }
    expect(thrown).toMatchObject({
      code: 'UNRECOVERABLE',
      retriable: false,
      details: { reason: 'malformed-payload' },
    });
  }, 30_000);
});

test("every topic's data batches carry the codec of its case and decompress in Kafka's DumpLogSegments", async () => {
  const dataDir = inject('kafkaDataDir');
  const files = [...expectedCodec.keys()]
    .map((topic) => join(dataDir, `${topic}-0`, '00000000000000000000.log'))
    .filter((file) => existsSync(file));
  expect(files).toHaveLength(expectedCodec.size);
  const { stdout } = await run(
    java(),
    [
      '-Xmx256m',
      '-cp',
      inject('kafkaClasspath'),
      'org.apache.kafka.tools.DumpLogSegments',
      // Decompresses every batch with Kafka's own codecs, what walstream compressed included.
      '--deep-iteration',
      '--files',
      files.join(','),
    ],
    { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
  );
  const seen = new Map<string, Set<string>>();
  let topic = '';
  for (const line of stdout.split('\n')) {
    const file = /^Dumping (.*)$/.exec(line)?.[1];
    if (file) topic = file.split('/').at(-2)!.replace(/-0$/, '');
    // Control batches (transaction markers) are never compressed: only data batches count.
    const codec = /isControl: false.*compresscodec: (\w+)/.exec(line)?.[1];
    if (codec) seen.set(topic, (seen.get(topic) ?? new Set()).add(codec.toLowerCase()));
  }
  for (const [name, codec] of expectedCodec) {
    // The stack's small control messages may go uncompressed when a batch does not shrink; the
    // notes always do, so the codec is among what each topic holds.
    expect(seen.get(name), name).toContain(codec);
  }
}, 120_000);
