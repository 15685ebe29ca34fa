/**
 * `pnpm bench:local`: the local adapter against the physical limit of the disk it writes to, and against
 * the Kafka adapter on the same machine, in one table from one run. Asserts nothing.
 *
 * Append (1 KiB records): for each durability setting the adapter with 1000 appends in flight, beside a
 * plain loop that writes batches of 1 KiB records with one write call and — for `fsync` — one fdatasync
 * per batch, `interval` one every 100 ms, `none` none: the physical limit of the setting. The loop's
 * batch size is the mean group-commit size the adapter reached just before in the same round ("at the
 * same batch sizes"). One append at a time beside one write+fdatasync at a time. The Kafka adapter
 * (platformatic driver, acks=all, idempotent; with and without transactional fencing) on a broker the
 * testkit harness starts on this machine, 1000 in flight.
 *
 * Scan: the adapter's raw scanner over a log of BENCH_SCAN_RECORDS records beside a plain sequential read
 * of the same segment files (256 KiB reads), and that read with a CRC-32C over every byte. The files are
 * in the page cache for every scan case (they were just written, and read in turn).
 *
 * Every case runs once to warm up, then BENCH_ROUNDS rounds of all cases in turn (interleaved); each case
 * keeps its median round, and `spread` is (max - min) / median of its rounds' rates.
 *
 * Environment: BENCH_RECORDS (appends per run, default 100000), BENCH_SINGLE (appends of the one-at-a-time
 * cases, default 300), BENCH_SCAN_RECORDS (default 100000), BENCH_ROUNDS (default 5), BENCH_DIR (where
 * the files go, default the system temporary directory), BENCH_KAFKA=0 to leave Kafka out, BENCH_ONLY=append
 * or scan for one group, BENCH_COLD=1 (root on Linux only) to drop the page cache before every scan run,
 * so the scans read from the disk — it slows every process on the machine for a moment.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaAdapter } from '@walstream/adapter-kafka';
import { crc32c, type Durability, localAdapter } from '@walstream/adapter-local';
import { DeliverPolicy, MutableMessage, pchannel } from '@walstream/core';
import type { WalImpls, WalImplsOpener } from '@walstream/core/spi';
import { type KafkaBroker, startKafka } from '@walstream/testkit/kafka';

const SIZE = 1024;
const WINDOW = 1000;
const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const SINGLE = Number(process.env.BENCH_SINGLE ?? 300);
const SCAN_RECORDS = Number(process.env.BENCH_SCAN_RECORDS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ONLY = process.env.BENCH_ONLY;
const WITH_KAFKA = process.env.BENCH_KAFKA !== '0' && ONLY !== 'scan';
const COLD = process.env.BENCH_COLD === '1';

/** Drops the page cache (BENCH_COLD=1): the next read comes from the disk. */
function dropPageCache(): void {
  if (!COLD) return;
  execFileSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '1');
}
const INTERVAL_MS = 100;
const READ_CHUNK = 256 * 1024;
const base = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'walstream-bench-local-'));

/** What one timed run did. */
interface Sample {
  readonly records: number;
  /** Bytes moved: record bytes on disk for appends and scans (framing included). */
  readonly bytes: number;
  readonly seconds: number;
  readonly latenciesMs?: number[];
}

interface BenchCase {
  readonly group: string;
  readonly name: string;
  /** The row this one is compared with ("vs baseline"); a baseline row names none. */
  readonly baseline?: string;
  readonly run: () => Promise<Sample>;
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

let runs = 0;
const freshDirectory = () => {
  const directory = join(base, `run-${++runs}`);
  mkdirSync(directory, { recursive: true });
  return directory;
};

const PAYLOAD = new Uint8Array(SIZE).map((_, i) => (i * 7) & 0xff);
const messages = Array.from({ length: RECORDS }, (_, i) => new MutableMessage(PAYLOAD, { seq: String(i) }));
/** A record of `messages[i]` on disk: 20 bytes of framing, the property, the payload. */
const RECORD_BYTES = 8 + 12 + 4 + 3 + 4 + 5 + SIZE;

/** `count` appends with at most `window` in flight; seconds and each append's latency. */
async function windowed(count: number, window: number, append: (i: number) => Promise<unknown>) {
  const latencies = new Array<number>(count);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await append(i);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return { seconds: (performance.now() - started) / 1000, latencies };
}

/** Mean group-commit size of the last adapter run of each durability: the raw loop writes batches of it. */
const meanBatch: Record<Durability, number> = { fsync: 100, interval: 100, none: 100 };

function adapterAppend(durability: Durability, window: number, count: number): () => Promise<Sample> {
  return async () => {
    const directory = freshDirectory();
    const adapter = localAdapter({
      directory,
      durability,
      ...(durability === 'interval' ? { syncIntervalMs: INTERVAL_MS } : {}),
    });
    const opener = await adapter.build();
    try {
      const wal = await opener.open({ channel: pchannel('bench', 1n) });
      collectGarbage();
      const { seconds, latencies } = await windowed(count, window, (i) => wal.append(messages[i % RECORDS]!));
      const stats = (await adapter.stats('bench'))!;
      if (window > 1) meanBatch[durability] = Math.max(1, Math.round(stats.appends / stats.commits));
      return { records: count, bytes: count * RECORD_BYTES, seconds, latenciesMs: latencies };
    } finally {
      await opener.close();
      rmSync(directory, { recursive: true, force: true });
    }
  };
}

/**
 * The physical limit: batches of `batch()` 1 KiB records, each one write call at the end of the file;
 * `fsync` fdatasyncs after every write, `interval` every INTERVAL_MS, `none` never.
 */
function rawAppend(durability: Durability, batch: () => number, count: number): () => Promise<Sample> {
  return async () => {
    const directory = freshDirectory();
    const size = batch();
    const buffer = Buffer.alloc(size * RECORD_BYTES, 7);
    const handle = await open(join(directory, 'raw.log'), 'w');
    const latencies: number[] = [];
    try {
      collectGarbage();
      const started = performance.now();
      let lastSync = started;
      let position = 0;
      let written = 0;
      while (written < count) {
        const n = Math.min(size, count - written);
        const t0 = performance.now();
        await handle.write(buffer, 0, n * RECORD_BYTES, position);
        if (durability === 'fsync') await handle.datasync();
        else if (durability === 'interval' && performance.now() - lastSync >= INTERVAL_MS) {
          await handle.datasync();
          lastSync = performance.now();
        }
        latencies.push(performance.now() - t0);
        position += n * RECORD_BYTES;
        written += n;
      }
      const seconds = (performance.now() - started) / 1000;
      return { records: count, bytes: count * RECORD_BYTES, seconds, latenciesMs: latencies };
    } finally {
      await handle.close();
      rmSync(directory, { recursive: true, force: true });
    }
  };
}

function kafkaAppend(broker: KafkaBroker, fencing: 'none' | 'transactional'): () => Promise<Sample> {
  let topics = 0;
  return async () => {
    const opener: WalImplsOpener = await kafkaAdapter({
      driver: 'platformatic',
      brokers: [broker.bootstrap],
      fencing,
    }).build();
    try {
      const wal: WalImpls = await opener.open({
        channel: pchannel(`bench-local-${fencing}-${Date.now().toString(36)}-${++topics}`, 1n),
      });
      await wal.append(messages[0]!); // the topic and the producer exist before the clock starts
      collectGarbage();
      const { seconds, latencies } = await windowed(RECORDS, WINDOW, (i) => wal.append(messages[i]!));
      return { records: RECORDS, bytes: RECORDS * RECORD_BYTES, seconds, latenciesMs: latencies };
    } finally {
      await opener.close();
    }
  };
}

/** A log of SCAN_RECORDS records for the scan cases, and its segment files. */
async function scanFixture(): Promise<{ directory: string; files: string[]; bytes: number }> {
  const directory = join(base, 'scan');
  const opener = await localAdapter({ directory, durability: 'none' }).build();
  const wal = await opener.open({ channel: pchannel('scan', 1n) });
  await windowed(SCAN_RECORDS, WINDOW, (i) => wal.append(messages[i % RECORDS]!));
  await opener.close();
  const channel = join(directory, 'scan');
  const files = (await readdir(channel))
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => join(channel, name));
  let bytes = 0;
  for (const file of files) bytes += (await stat(file)).size;
  return { directory, files, bytes };
}

function rawRead(fixture: { files: string[]; bytes: number }, withCrc: boolean): () => Promise<Sample> {
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  return async () => {
    dropPageCache();
    collectGarbage();
    const started = performance.now();
    let total = 0;
    let crc = 0;
    for (const file of fixture.files) {
      const handle = await open(file, 'r');
      try {
        for (let position = 0; ; ) {
          const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, position);
          if (bytesRead === 0) break;
          if (withCrc) crc = crc32c(buffer, 0, bytesRead, crc);
          position += bytesRead;
          total += bytesRead;
        }
      } finally {
        await handle.close();
      }
    }
    if (total !== fixture.bytes) throw new Error(`read ${total} bytes of ${fixture.bytes}`);
    return { records: SCAN_RECORDS, bytes: total, seconds: (performance.now() - started) / 1000 };
  };
}

function adapterScan(fixture: { directory: string; bytes: number }): () => Promise<Sample> {
  return async () => {
    const opener = await localAdapter({ directory: fixture.directory, durability: 'none' }).build();
    try {
      const wal = await opener.open({ channel: pchannel('scan', 1n, 'ro') });
      dropPageCache();
      collectGarbage();
      const started = performance.now();
      const scanner = await wal.read({
        name: 'bench',
        deliverPolicy: DeliverPolicy.all(),
        readAheadBufferSize: 1024,
      });
      let seen = 0;
      for await (const _ of scanner) if (++seen >= SCAN_RECORDS) break;
      return { records: seen, bytes: fixture.bytes, seconds: (performance.now() - started) / 1000 };
    } finally {
      await opener.close();
    }
  };
}

interface Row {
  readonly bench: BenchCase;
  readonly median: Sample;
  readonly spread: number;
}

async function measure(cases: readonly BenchCase[]): Promise<Row[]> {
  const samples = cases.map((): Sample[] => []);
  for (const c of cases) await c.run(); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of cases.entries()) samples[i]!.push(await c.run());
    console.error(`  round ${round + 1} of ${ROUNDS} done`);
  }
  return cases.map((bench, i) => {
    const rate = (s: Sample) => s.bytes / s.seconds;
    const sorted = [...samples[i]!].sort((a, b) => rate(a) - rate(b));
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const spread = (rate(sorted.at(-1)!) - rate(sorted[0]!)) / rate(median);
    return { bench, median, spread };
  });
}

function format(rows: readonly Row[]): string {
  const rate = (row: Row) => row.median.bytes / row.median.seconds;
  const byName = new Map(rows.map((row) => [row.bench.name, row]));
  const ms = (value: number | undefined) =>
    value === undefined ? '' : value < 0.01 ? '<0.01' : value.toFixed(value < 1 ? 3 : value < 100 ? 2 : 0);
  const header = ['case', 'records/s', 'MB/s', 'vs baseline', 'p50 ms', 'p99 ms', 'spread'];
  const cells = rows.map((row) => {
    const sorted = row.median.latenciesMs ? [...row.median.latenciesMs].sort((a, b) => a - b) : undefined;
    const against = row.bench.baseline ? byName.get(row.bench.baseline) : undefined;
    return [
      `${row.bench.group}: ${row.bench.name}`,
      Math.round(row.median.records / row.median.seconds).toLocaleString('en-US'),
      (rate(row) / 1e6).toFixed(1),
      against
        ? `${((100 * rate(row)) / rate(against)).toFixed(0)} %`
        : row.bench.baseline === undefined
          ? 'baseline'
          : '',
      ms(sorted && percentile(sorted, 50)),
      ms(sorted && percentile(sorted, 99)),
      `±${((100 * row.spread) / 2).toFixed(0)} %`,
    ];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

const FSYNC_WINDOW = `adapter, durability fsync, ${WINDOW} in flight`;
const RAW_FSYNC = "write+fdatasync loop, batches of the adapter's mean commit";

async function main(): Promise<void> {
  console.error(
    `bench:local: ${RECORDS} x ${SIZE} B per append run, ${SCAN_RECORDS} records to scan, ${ROUNDS} rounds, files in ${base}`,
  );
  let broker: KafkaBroker | undefined;
  if (WITH_KAFKA) {
    console.error('starting a Kafka broker (testkit harness) ...');
    broker = await startKafka();
  }
  try {
    const fixture = ONLY === 'append' ? { directory: '', files: [], bytes: 0 } : await scanFixture();
    const cases: BenchCase[] = [
      {
        group: 'append',
        name: 'write+fdatasync loop, 1 record per sync',
        run: rawAppend('fsync', () => 1, SINGLE),
      },
      {
        group: 'append',
        name: 'adapter, durability fsync, 1 at a time',
        baseline: 'write+fdatasync loop, 1 record per sync',
        run: adapterAppend('fsync', 1, SINGLE),
      },
      // Each adapter case runs before its loop: the loop writes batches of the size the adapter just reached.
      {
        group: 'append',
        name: FSYNC_WINDOW,
        baseline: RAW_FSYNC,
        run: adapterAppend('fsync', WINDOW, RECORDS),
      },
      { group: 'append', name: RAW_FSYNC, run: rawAppend('fsync', () => meanBatch.fsync, RECORDS) },
      {
        group: 'append',
        name: `adapter, durability interval (${INTERVAL_MS} ms), ${WINDOW} in flight`,
        baseline: `write loop, fdatasync every ${INTERVAL_MS} ms, same batches`,
        run: adapterAppend('interval', WINDOW, RECORDS),
      },
      {
        group: 'append',
        name: `write loop, fdatasync every ${INTERVAL_MS} ms, same batches`,
        run: rawAppend('interval', () => meanBatch.interval, RECORDS),
      },
      {
        group: 'append',
        name: `adapter, durability none, ${WINDOW} in flight`,
        baseline: 'write loop, no fdatasync, same batches',
        run: adapterAppend('none', WINDOW, RECORDS),
      },
      {
        group: 'append',
        name: 'write loop, no fdatasync, same batches',
        run: rawAppend('none', () => meanBatch.none, RECORDS),
      },
      ...(broker
        ? [
            {
              group: 'append',
              name: `kafka adapter (platformatic, acks=all, no fencing), ${WINDOW} in flight`,
              baseline: FSYNC_WINDOW,
              run: kafkaAppend(broker, 'none'),
            },
            {
              group: 'append',
              name: `kafka adapter (platformatic, acks=all, transactional fencing), ${WINDOW} in flight`,
              baseline: FSYNC_WINDOW,
              run: kafkaAppend(broker, 'transactional'),
            },
          ]
        : []),
      {
        group: 'scan',
        name: 'sequential read of the segment files (256 KiB reads)',
        run: rawRead(fixture, false),
      },
      {
        group: 'scan',
        name: 'sequential read + CRC-32C of every byte',
        baseline: 'sequential read of the segment files (256 KiB reads)',
        run: rawRead(fixture, true),
      },
      {
        group: 'scan',
        name: 'adapter raw scanner (read-ahead 1024)',
        baseline: 'sequential read of the segment files (256 KiB reads)',
        run: adapterScan(fixture),
      },
    ];
    const rows = await measure(cases.filter((c) => ONLY === undefined || c.group === ONLY));
    console.log(
      `\n### local adapter (1 KiB records; median of ${ROUNDS} interleaved rounds; spread = (max - min) / median / 2${COLD ? '; page cache dropped before each scan' : ''})\n`,
    );
    console.log(format(rows));
    console.log(
      `\nmean group commit at ${WINDOW} in flight: fsync ${meanBatch.fsync}, interval ${meanBatch.interval}, none ${meanBatch.none} appends (the loops' batch sizes)`,
    );
    console.log(goals(rows));
  } finally {
    await broker?.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

/** The issue's goals, measured in this run. */
function goals(rows: readonly Row[]): string {
  const row = (name: string) => rows.find((r) => r.bench.name === name);
  const rate = (r: Row | undefined) => (r ? r.median.bytes / r.median.seconds : Number.NaN);
  const p99 = (r: Row | undefined) => {
    const sorted = r?.median.latenciesMs ? [...r.median.latenciesMs].sort((a, b) => a - b) : [];
    return sorted.length ? percentile(sorted, 99) : Number.NaN;
  };
  const adapter = row(FSYNC_WINDOW);
  const raw = row(RAW_FSYNC);
  const kafka = [
    row(`kafka adapter (platformatic, acks=all, no fencing), ${WINDOW} in flight`),
    row(`kafka adapter (platformatic, acks=all, transactional fencing), ${WINDOW} in flight`),
  ].filter((r): r is Row => r !== undefined);
  const fastestKafka = kafka.sort((a, b) => rate(b) - rate(a))[0];
  const scan =
    rate(row('adapter raw scanner (read-ahead 1024)')) /
    rate(row('sequential read of the segment files (256 KiB reads)'));
  const lines = [
    `fsync, ${WINDOW} in flight: ${(100 * (rate(adapter) / rate(raw))).toFixed(0)} % of the write+fdatasync loop at the same batch size (goal ≥ 80 %)`,
    fastestKafka
      ? `fsync, ${WINDOW} in flight: ${(rate(adapter) / rate(fastestKafka)).toFixed(1)}× the faster Kafka adapter row (goal ≥ 2×)`
      : 'Kafka left out (BENCH_KAFKA=0)',
    `append p99 ${p99(adapter).toFixed(1)} ms at ${WINDOW} in flight = ${(p99(adapter) / p99(raw)).toFixed(1)}× the p99 of one write+fdatasync of a batch (${p99(raw).toFixed(1)} ms) (goal ≤ 2×)`,
    `scan: ${(100 * scan).toFixed(0)} % of the sequential read of the same files (goal ≥ 80 %)`,
  ];
  return `\ngoals:\n${lines.map((l) => `- ${l}`).join('\n')}`;
}

await main();
