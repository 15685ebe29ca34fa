/**
 * `npx tsx --tsconfig tsconfig.tests.json bench/kafka/compression.ts`: on one Kafka broker started by the
 * testkit harness, the adapter with each `compression` codec and each driver: append throughput
 * (fencing on, acks=all), scan throughput, and the bytes of the topic's log segment (the record batches
 * as produced: what went over the wire, with the transaction markers). JSON-like 1 KB payloads. Prints a
 * table; asserts nothing.
 *
 * Environment: BENCH_MESSAGES (default 20000), BENCH_WINDOW (appends in flight, default 1000),
 * BENCH_PAYLOAD (bytes, default 1024), BENCH_DRIVERS (default `platformatic,kafkajs`), BENCH_CODECS
 * (default `none,gzip,snappy,lz4,zstd`).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type KafkaDriverName, kafkaAdapter } from '@walstream/adapter-kafka';
import { DeliverPolicy, MutableMessage, pchannel } from '@walstream/core';
import { startKafka } from '@walstream/testkit/kafka';
import {
  CODEC_MESSAGES,
  CODEC_WINDOW,
  type CodecRow,
  payloadOf,
  printCodecTable,
  windowedRun,
} from '../lib/compression.js';

type Codec = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'platformatic,kafkajs').split(',') as KafkaDriverName[];
const CODECS = (process.env.BENCH_CODECS ?? 'none,gzip,snappy,lz4,zstd').split(',') as Codec[];

function segmentBytes(dataDir: string, topic: string): number {
  const dir = join(dataDir, `${topic}-0`);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.log'))
    .reduce((sum, file) => sum + statSync(join(dir, file)).size, 0);
}

async function main(): Promise<void> {
  const broker = await startKafka();
  const rows: CodecRow[] = [];
  try {
    const messages = Array.from(
      { length: CODEC_MESSAGES },
      (_, i) => new MutableMessage(payloadOf(i), { seq: String(i) }),
    );
    for (const driver of DRIVERS) {
      // A first untimed run per driver, so the broker and the JIT are warm before the first codec is timed.
      for (const codec of ['warmup' as const, ...CODECS]) {
        const topic = `bench-codec-${driver}-${codec}-${Date.now().toString(36)}`;
        const opener = await kafkaAdapter({
          driver,
          brokers: [broker.bootstrap],
          compression: codec === 'warmup' ? 'none' : codec,
        }).build();
        try {
          const wal = await opener.open({ channel: pchannel(topic, 1n) });
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
            readAheadBufferSize: 1024,
          });
          let seen = 0;
          for await (const _ of scanner) if (++seen >= CODEC_MESSAGES) break;
          const scanSeconds = (performance.now() - started) / 1_000;
          await wal.close();
          rows.push({
            client: driver,
            codec,
            appendPerSec: CODEC_MESSAGES / appendSeconds,
            scanPerSec: CODEC_MESSAGES / scanSeconds,
            bytes: segmentBytes(join(broker.workDir, 'data'), topic),
          });
          console.error(`${driver} ${codec}: done`);
        } finally {
          await opener.close();
        }
      }
    }
  } finally {
    await broker.stop();
  }
  printCodecTable('Kafka adapter, compression option', rows, 'log bytes');
}

await main();
