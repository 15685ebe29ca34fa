/**
 * `npx tsx --tsconfig tsconfig.tests.json bench/pulsar/compression.ts`: on one Pulsar standalone started
 * by the testkit harness, the adapter with each `compression` codec: append throughput (exclusive
 * producer, one entry per message), scan throughput, and the broker's `bytesInCounter` for the topic
 * (entry bytes received: metadata and payload as sent). JSON-like 1 KB payloads. Prints a table;
 * asserts nothing.
 *
 * Environment: BENCH_MESSAGES (default 20000), BENCH_WINDOW (appends in flight, default 1000),
 * BENCH_PAYLOAD (bytes, default 1024), BENCH_CODECS (default `none,lz4,zlib,zstd,snappy`).
 */
import { pulsarAdapter } from '@walstream/adapter-pulsar';
import { DeliverPolicy, MutableMessage, pchannel } from '@walstream/core';
import { startPulsar } from '@walstream/testkit/pulsar';
import {
  CODEC_MESSAGES,
  CODEC_WINDOW,
  type CodecRow,
  payloadOf,
  printCodecTable,
  windowedRun,
} from '../lib/compression.js';

type Codec = 'none' | 'lz4' | 'zlib' | 'zstd' | 'snappy';
const CODECS = (process.env.BENCH_CODECS ?? 'none,lz4,zlib,zstd,snappy').split(',') as Codec[];

async function main(): Promise<void> {
  const broker = await startPulsar();
  const rows: CodecRow[] = [];
  try {
    const messages = Array.from(
      { length: CODEC_MESSAGES },
      (_, i) => new MutableMessage(payloadOf(i), { seq: String(i) }),
    );
    // A first untimed run, so the broker and the JIT are warm before the first codec is timed.
    for (const codec of ['warmup' as const, ...CODECS]) {
      const name = `bench-codec-${codec}-${Date.now().toString(36)}`;
      const opener = await pulsarAdapter({
        serviceUrl: broker.serviceUrl,
        adminUrl: broker.adminUrl,
        compression: codec === 'warmup' ? 'none' : codec,
      }).build();
      try {
        const wal = await opener.open({ channel: pchannel(name, 1n) });
        const appendSeconds = await windowedRun(CODEC_MESSAGES, CODEC_WINDOW, (i) =>
          wal.append(messages[i]!),
        );
        if (codec === 'warmup') {
          await wal.close();
          continue;
        }
        const started = performance.now();
        const scanner = await wal.read({
          name: 'bench',
          deliverPolicy: DeliverPolicy.all(),
          readAheadBufferSize: 1000,
        });
        let seen = 0;
        for await (const _ of scanner) if (++seen >= CODEC_MESSAGES) break;
        const scanSeconds = (performance.now() - started) / 1_000;
        await wal.close();
        const stats = (await (
          await fetch(`${broker.adminUrl}/admin/v2/persistent/public/default/${name}/stats`)
        ).json()) as { bytesInCounter: number };
        rows.push({
          client: 'pulsar',
          codec,
          appendPerSec: CODEC_MESSAGES / appendSeconds,
          scanPerSec: CODEC_MESSAGES / scanSeconds,
          bytes: stats.bytesInCounter,
        });
        console.error(`${codec}: done`);
      } finally {
        await opener.close();
      }
    }
  } finally {
    await broker.stop({ hard: true });
  }
  printCodecTable('Pulsar adapter, compression option', rows, 'bytes in');
}

await main();
