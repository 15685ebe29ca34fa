import { fileURLToPath } from 'node:url';
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
import { runJava } from '@walstream/testkit/pulsar';
import { beforeAll, describe, expect, test } from 'vitest';
import type { PulsarCompression } from '../src/codecs/index.js';
import { PulsarClient } from '../src/protocol/client.js';
import { ProducerAccessMode, producerCommand } from '../src/protocol/commands.js';
import { encodeFrame, encodeSendFrame } from '../src/protocol/frame.js';
import { adapter, broker, uniqueName } from './env.js';

/**
 * The codec matrix on the real standalone: every compression type × batched / unbatched / chunked,
 * written by Pulsar's own Java client and read by the adapter's raw scanner; and every codec written by
 * the adapter itself, read through the raw scanner and the full stack and reopened read-write. The
 * broker's `examinemessage` admin call shows each entry's metadata, so the tests check the entries
 * really carry the codec (and chunks, batches) they are about.
 */
const COUNT = 5;
const CODECS = ['none', 'lz4', 'zlib', 'zstd', 'snappy'] as const;
const MODES = ['batched', 'unbatched', 'chunked'] as const;
const CHUNK_SIZE = 1024;
const COMPRESSION_NUMBER: Record<string, string> = {
  lz4: 'LZ4',
  zlib: 'ZLIB',
  zstd: 'ZSTD',
  snappy: 'SNAPPY',
};
const JAVA_CODEC_CLASS: Record<string, string> = {
  lz4: 'CompressionCodecLZ4',
  zlib: 'CompressionCodecZLib',
  zstd: 'CompressionCodecZstd',
  snappy: 'CompressionCodecSnappy',
};

/** The payload CodecProducer.java writes for message `i` of `mode` (same construction, same bytes). */
function javaPayload(mode: string, i: number): string {
  let text = '';
  const repeat = mode === 'chunked' ? 40 : 1 + i * 7;
  for (let r = 0; r < repeat; r++) text += `walstream payload ${i} `;
  if (mode === 'chunked') {
    const mask = (1n << 64n) - 1n;
    let x = (0x9e3779b97f4a7c15n * BigInt(i + 1)) & mask;
    for (let k = 0; k < 4 * CHUNK_SIZE; k++) {
      x ^= (x << 13n) & mask;
      x ^= x >> 7n;
      x ^= (x << 17n) & mask;
      text += String.fromCharCode(97 + Number((x >> 33n) % 26n));
    }
  }
  return text;
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

/** The response headers of the broker's `examinemessage` for the entry at `position` (1 = the first). */
async function examine(topic: string, position = 1): Promise<Headers> {
  const url = `${broker().adminUrl}/admin/v2/persistent/public/default/${topic}/examinemessage?initialPosition=earliest&messagePosition=${position}`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`examinemessage ${topic}: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
  return response.headers;
}

describe("the codec matrix written by Pulsar's Java client", () => {
  const prefix = uniqueName('jcodec');
  const written = new Map<string, number>();

  beforeAll(async () => {
    const { serviceUrl, classpath, java } = broker();
    const result = await runJava(java, classpath, {
      main: fileURLToPath(new URL('./fixtures/CodecProducer.java', import.meta.url)),
      args: [serviceUrl, prefix, String(COUNT), 'big'],
      timeoutMs: 180_000,
    });
    if (result.code !== 0)
      throw new Error(`CodecProducer failed (${result.code}):\n${result.stderr.slice(-3000)}`);
    for (const line of result.stdout.split('\n')) {
      const topic = /^(\S+) \d+:\d+:/.exec(line.trim())?.[1];
      if (topic) written.set(topic, (written.get(topic) ?? 0) + 1);
    }
  }, 240_000);

  const cases = CODECS.flatMap((codec) => MODES.map((mode) => ({ codec, mode })));
  test.each(cases)('$codec $mode: every message reads back whole and in order', async ({ codec, mode }) => {
    const topic = `${prefix}-${codec}-${mode}`;
    expect(written.get(topic)).toBe(COUNT);
    if (mode === 'chunked' && codec !== 'none') {
      // The broker's examinemessage decompresses the entry it shows, and a chunk alone does not
      // decompress: its failure names the codec of the chunk.
      await expect(examine(topic)).rejects.toThrow(JAVA_CODEC_CLASS[codec]);
    } else {
      const headers = await examine(topic);
      if (codec !== 'none') expect(headers.get('X-Pulsar-compression')).toBe(COMPRESSION_NUMBER[codec]);
      if (mode === 'batched') expect(Number(headers.get('X-Pulsar-num-batch-message'))).toBeGreaterThan(1);
      if (mode === 'chunked') expect(Number(headers.get('X-Pulsar-num-chunks-from-msg'))).toBeGreaterThan(1);
    }
    const opener = await adapter().build();
    try {
      const wal = await opener.open({ channel: pchannel(topic, 0n, 'ro') });
      const got = await take(await wal.read({ name: 'codec', deliverPolicy: DeliverPolicy.all() }), COUNT);
      expect(got.map((m) => m.properties.seq)).toEqual(['0', '1', '2', '3', '4']);
      for (const [i, m] of got.entries()) {
        expect(new TextDecoder().decode(m.payload)).toBe(javaPayload(mode, i));
      }
    } finally {
      await opener.close();
    }
  });

  test('the full stack opens Java-written topics read-write past their foreign records, counting them', async () => {
    for (const topic of [`${prefix}-zstd-batched`, `${prefix}-lz4-chunked`, `${prefix}-zlib-unbatched`]) {
      const lines: LogLine[] = [];
      await using opener = await createWal({ logger: recordingLogger(lines) })
        .adapter(adapter())
        .use(...walSemantics({ timeTick: { closeTimeoutMs: 200 } }))
        .build();
      const wal = await opener.open({ channel: pchannel(topic, 1n) });
      const notes = vchannelName(topic, 'notes');
      await wal.append(createVChannel(notes));
      const { messageId } = await wal.append(newMessage(Note).vchannel(notes).body(topic).build());
      await using scanner = await wal.read({ vchannel: notes, deliverPolicy: DeliverPolicy.all() });
      const got: string[] = [];
      for await (const message of scanner) {
        if (message.messageType !== Note.code) continue;
        got.push(decodeBody(Note, message));
        if (message.id.compare(messageId) === 0) break;
      }
      expect(got).toEqual([topic]);
      const skipped = lines.filter((line) => /not a walstream message/.test(line.message ?? ''));
      expect(skipped.map((line) => String(line.fields.reader).split(' ')[0])).toEqual([
        'recovery',
        'scanner',
      ]);
    }
  });

  test('a message at the max message size is stored and read back (the bookie takes its frame)', async () => {
    expect(written.get(`${prefix}-big`)).toBe(1);
    const opener = await adapter().build();
    try {
      const wal = await opener.open({ channel: pchannel(`${prefix}-big`, 0n, 'ro') });
      const [big] = await take(await wal.read({ name: 'big', deliverPolicy: DeliverPolicy.all() }), 1);
      expect(big!.payload.length).toBe(5 * 1024 * 1024 - 64);
      expect([big!.payload[1], big!.payload[1000]]).toEqual([31, (1000 * 31) & 0xff]);
    } finally {
      await opener.close();
    }
  });
});

const Note = defineMessageType<string>({
  name: 'CodecNote',
  code: 7411,
  flags: {},
  codec: { encode: (s) => new TextEncoder().encode(s), decode: (b) => new TextDecoder().decode(b) },
});

describe('compression on the adapter’s own appends', () => {
  test.each(CODECS)('%s: raw appends are stored with the codec and read back', async (codec) => {
    const name = uniqueName(`own-${codec}`);
    const opener = await adapter({ compression: codec as PulsarCompression }).build();
    try {
      const wal = await opener.open({ channel: pchannel(name, 1n) });
      // The last compressed one is large: the broker's examinemessage decompresses it with Pulsar's Java codecs.
      const payloads = [0, 1, 2].map((i) =>
        new TextEncoder().encode(`row ${i} `.repeat(i === 2 ? 40_000 : 50 + i)),
      );
      payloads.push(new Uint8Array([7])); // too small to gain: sent as it is
      for (const [i, payload] of payloads.entries()) {
        await wal.append(new MutableMessage(payload, { seq: String(i) }));
      }
      const headers = await examine(name);
      expect(headers.get('X-Pulsar-compression')).toBe(codec === 'none' ? null : COMPRESSION_NUMBER[codec]);
      const last = await examine(name, payloads.length);
      expect(last.get('X-Pulsar-compression')).toBeNull();
      const big = await fetch(
        `${broker().adminUrl}/admin/v2/persistent/public/default/${name}/examinemessage?initialPosition=earliest&messagePosition=3`,
      );
      expect(big.status).toBe(200);
      expect(Buffer.from(await big.arrayBuffer()).equals(Buffer.from(payloads[2]!))).toBe(true);
      const got = await take(
        await wal.read({ name: 'own', deliverPolicy: DeliverPolicy.all() }),
        payloads.length,
      );
      expect(got.map((m) => Buffer.from(m.payload).toString('hex'))).toEqual(
        payloads.map((p) => Buffer.from(p).toString('hex')),
      );
    } finally {
      await opener.close();
    }
  });

  test.each(
    CODECS.filter((c) => c !== 'none'),
  )('%s: through the full stack, read back and reopened read-write at the next term', async (codec) => {
    const name = uniqueName(`stack-${codec}`);
    const orders = vchannelName(name, 'notes');
    const build = () =>
      createWal()
        .adapter(adapter({ compression: codec }))
        .use(...walSemantics({ timeTick: { closeTimeoutMs: 200 } }))
        .build();
    const bodies = [0, 1, 2].map((i) => `note ${i} `.repeat(i === 2 ? 30_000 : 40));
    {
      await using opener = await build();
      const wal = await opener.open({ channel: pchannel(name, 1n) });
      await wal.append(createVChannel(orders));
      for (const body of bodies) await wal.append(newMessage(Note).vchannel(orders).body(body).build());
    }
    await using opener = await build();
    const wal = await opener.open({ channel: pchannel(name, 2n) });
    const { messageId } = await wal.append(newMessage(Note).vchannel(orders).body('after reopen').build());
    await using scanner = await wal.read({ vchannel: orders, deliverPolicy: DeliverPolicy.all() });
    const got: string[] = [];
    for await (const message of scanner) {
      if (message.messageType !== Note.code) continue;
      got.push(decodeBody(Note, message));
      if (message.id.compare(messageId) === 0) break;
    }
    expect(got).toEqual([...bodies, 'after reopen']);
    // The stack's small control messages do not gain from compression; the notes do.
    const codecs = new Set<string | null>();
    for (let position = 1; position <= 8; position++) {
      codecs.add((await examine(name, position)).get('X-Pulsar-compression'));
    }
    expect(codecs).toContain(COMPRESSION_NUMBER[codec]);
  });
});

/**
 * One entry of a compression type no Pulsar client knows (9), written over the binary protocol: the
 * broker stores payloads as they come, so this is what a newer client's codec looks like to this one.
 */
async function writeUnknownCodecEntry(topic: string): Promise<void> {
  const client = new PulsarClient({ serviceUrl: broker().serviceUrl });
  try {
    const connection = await client.dedicatedConnection(
      await client.lookup(`persistent://public/default/${topic}`),
    );
    const producerId = connection.nextResourceId();
    const receipt = new Promise<void>((resolve, reject) => {
      connection.registerProducer(producerId, {
        onReceipt: () => resolve(),
        onSendError: (error) => reject(new Error(`send error ${JSON.stringify(error)}`)),
        onClose: (reason) => reject(reason),
      });
    });
    const requestId = connection.nextRequestId();
    await connection.request(
      requestId,
      encodeFrame(
        producerCommand({
          topic: `persistent://public/default/${topic}`,
          producerId,
          requestId,
          producerName: `future-client-${topic}`,
          accessMode: ProducerAccessMode.Shared,
          topicEpoch: 0n,
          epoch: 0,
        }),
      ),
      'creating the future client producer',
    );
    const name = new TextEncoder().encode(`future-client-${topic}`);
    connection.write(
      encodeSendFrame(producerId, 0, name, Date.now(), {}, new Uint8Array([1, 2, 3]), {
        type: 9,
        uncompressedSize: 3,
      }),
    );
    await receipt;
  } finally {
    await client.close();
  }
}

describe('an entry of a codec this client does not know', () => {
  const build = (policy?: 'skip' | 'fail', lines: LogLine[] = []) =>
    createWal({ logger: recordingLogger(lines), ...(policy ? { runtime: { foreignRecords: policy } } : {}) })
      .adapter(adapter())
      .use(...walSemantics({ timeTick: { closeTimeoutMs: 200 } }))
      .build();

  async function seeded(label: string) {
    const name = uniqueName(label);
    const notes = vchannelName(name, 'notes');
    {
      await using opener = await build();
      const wal = await opener.open({ channel: pchannel(name, 1n) });
      await wal.append(createVChannel(notes));
      await wal.append(newMessage(Note).vchannel(notes).body('before').build());
    }
    await writeUnknownCodecEntry(name);
    return { name, notes };
  }

  test('the raw scanner refuses it: UNRECOVERABLE unsupported-codec, naming the codec and the entry', async () => {
    const { name } = await seeded('unknown-raw');
    const opener = await adapter().build();
    try {
      const wal = await opener.open({ channel: pchannel(name, 1n, 'ro') });
      const scanner = await wal.read({ name: 'raw', deliverPolicy: DeliverPolicy.all() });
      let thrown: unknown;
      try {
        for await (const _ of scanner) {
          // up to the entry
        }
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({
        code: 'UNRECOVERABLE',
        retriable: false,
        details: { reason: 'unsupported-codec', codec: 'compression type 9' },
      });
      expect(typeof (thrown as { details: { messageId?: unknown } }).details.messageId).toBe('string');
    } finally {
      await opener.close();
    }
  });

  test('skip (default): the stack reopens read-write past it and reads on after it', async () => {
    const { name, notes } = await seeded('unknown-skip');
    const lines: LogLine[] = [];
    await using opener = await build(undefined, lines);
    const wal = await opener.open({ channel: pchannel(name, 2n) });
    const { messageId } = await wal.append(newMessage(Note).vchannel(notes).body('after').build());
    await using scanner = await wal.read({ vchannel: notes, deliverPolicy: DeliverPolicy.all() });
    const got: string[] = [];
    for await (const message of scanner) {
      if (message.messageType !== Note.code) continue;
      got.push(decodeBody(Note, message));
      if (message.id.compare(messageId) === 0) break;
    }
    expect(got).toEqual(['before', 'after']);
    const skipped = lines.filter((line) => /not a walstream message/.test(line.message ?? ''));
    expect(skipped.map((line) => String(line.fields.reader).split(' ')[0])).toEqual(['recovery', 'scanner']);
  });

  test('fail: the read-write reopen is refused', async () => {
    const { name } = await seeded('unknown-fail');
    await using opener = await build('fail');
    await expect(opener.open({ channel: pchannel(name, 2n) })).rejects.toMatchObject({
      code: 'UNRECOVERABLE',
      details: { reason: 'foreign-record' },
    });
  });
});
