/**
 * `npx tsx --tsconfig tsconfig.tests.json bench/kafka/index.ts`: on one Kafka broker started by the testkit harness, append throughput
 * and per-append latency (1 KB, acks=all, idempotent) through the Kafka adapter with each driver, through
 * each raw driver producer, and through Kafka's own Java ProducerPerformance (default 16 KB batches;
 * 1 MiB batches like the adapter's: the baseline; and 1 MiB batches in transactions committed every
 * BENCH_JAVA_TXN_MS, as the fenced adapter writes: the like-for-like baseline of the fenced rows); then
 * scan throughput through the adapter beside Kafka's ConsumerPerformance. Prints a table with ratios;
 * asserts nothing.
 *
 * Environment: BENCH_MESSAGES (default 30000), BENCH_JAVA_WARMUP (default 10000), BENCH_WARMUP (messages
 * each adapter and raw run appends before it is timed, default BENCH_JAVA_WARMUP), BENCH_WINDOW (appends in flight, default 1000),
 * BENCH_RAW_BATCH (messages per raw send() call, default 100), BENCH_JAVA_TXN_MS (Java's transaction
 * duration, default 100: about the time the fenced adapter takes for one transaction of a 1000-append
 * window), BENCH_DRIVERS (adapter drivers to run, default `kafkajs,platformatic`).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type KafkaDriverName, type KafkaFencingMode, kafkaAdapter } from '@walstream/adapter-kafka';
import { DeliverPolicy, MutableMessage, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { type KafkaBroker, startKafka } from '@walstream/testkit/kafka';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 30_000);
/** Records the Java producer sends first and leaves out of its figures (JVM start and JIT). */
const JAVA_WARMUP = Number(process.env.BENCH_JAVA_WARMUP ?? 10_000);
/**
 * Messages each adapter and raw run appends first, left out of its figures, as Java's warmup records
 * are: without it the first run of a driver pays its JIT warmup (30 cold transactions ran at ~1/3 of
 * the warm rate in a raw @platformatic/kafka transaction loop).
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? JAVA_WARMUP);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 1_000);
const RAW_BATCH = Number(process.env.BENCH_RAW_BATCH ?? 100);
const JAVA_TXN_MS = Number(process.env.BENCH_JAVA_TXN_MS ?? 100);
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'kafkajs,platformatic').split(',') as KafkaDriverName[];
const SIZE = 1024;
const PAYLOAD = Buffer.alloc(SIZE, 7);

interface Row {
  readonly group: 'append' | 'scan';
  readonly name: string;
  /** The baseline its group's ratios are computed against. */
  readonly baseline?: 'java' | 'javaTxn';
  readonly msgPerSec: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function latencyRow(name: string, seconds: number, latencies: number[]): Row {
  latencies.sort((a, b) => a - b);
  return {
    group: 'append',
    name,
    msgPerSec: MESSAGES / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

let topicCounter = 0;
const topicName = (label: string) => `bench-${label}-${Date.now().toString(36)}-${++topicCounter}`;

/** Runs `count` async operations with at most `window` in flight; returns seconds and per-op latencies. */
async function windowed(count: number, window: number, op: (i: number) => Promise<unknown>) {
  const latencies: number[] = new Array(count);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await op(i);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return { seconds: (performance.now() - started) / 1_000, latencies };
}

async function adapterAppend(
  broker: KafkaBroker,
  driver: KafkaDriverName,
  fencing: KafkaFencingMode,
): Promise<{ row: Row; topic: string }> {
  const opener = await kafkaAdapter({ driver, brokers: [broker.bootstrap], fencing }).build();
  try {
    const topic = topicName(`${driver}-${fencing}`);
    const wal = await opener.open({ channel: pchannel(topic, 1n) });
    const messages = Array.from(
      { length: MESSAGES },
      (_, i) => new MutableMessage(PAYLOAD, { seq: String(i) }),
    );
    await windowed(WARMUP, WINDOW, (i) => wal.append(messages[i % MESSAGES]!));
    const { seconds, latencies } = await windowed(MESSAGES, WINDOW, (i) => wal.append(messages[i]!));
    await wal.close();
    return { row: latencyRow(`adapter ${driver} (fencing ${fencing})`, seconds, latencies), topic };
  } finally {
    await opener.close();
  }
}

async function adapterScan(broker: KafkaBroker, driver: KafkaDriverName, topic: string): Promise<Row> {
  const opener: WalImplsOpener = await kafkaAdapter({ driver, brokers: [broker.bootstrap] }).build();
  try {
    const wal = await opener.open({ channel: pchannel(topic, 1n, 'ro') });
    const started = performance.now();
    const scanner = await wal.read({
      name: 'bench',
      deliverPolicy: DeliverPolicy.all(),
      readAheadBufferSize: 1024,
    });
    let seen = 0;
    for await (const _ of scanner) if (++seen >= MESSAGES) break;
    const seconds = (performance.now() - started) / 1_000;
    await wal.close();
    return { group: 'scan', name: `adapter scan ${driver}`, msgPerSec: MESSAGES / seconds };
  } finally {
    await opener.close();
  }
}

// The drivers are dependencies of the adapter package, not of the workspace root: resolve them from there.
const requireFromAdapter = createRequire(
  fileURLToPath(new URL('../../packages/adapter-kafka/package.json', import.meta.url)),
);

interface RawKafkaJsProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(request: {
    topic: string;
    acks: number;
    messages: { partition: number; value: Buffer }[];
  }): Promise<unknown>;
}

async function rawKafkaJs(broker: KafkaBroker, topic: string): Promise<Row> {
  const { Kafka, logLevel } = requireFromAdapter('kafkajs') as {
    Kafka: new (config: object) => { producer(config: object): RawKafkaJsProducer };
    logLevel: { NOTHING: number };
  };
  const kafka = new Kafka({ clientId: 'bench', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: () => () => 0,
  });
  await producer.connect();
  try {
    return await rawBatches(`raw kafkajs producer (${RAW_BATCH}/send)`, (batch) =>
      producer.send({ topic, acks: -1, messages: batch.map((value) => ({ partition: 0, value })) }),
    );
  } finally {
    await producer.disconnect();
  }
}

async function rawPlatformatic(broker: KafkaBroker, topic: string): Promise<Row> {
  const { Producer } = (await import(requireFromAdapter.resolve('@platformatic/kafka'))) as {
    Producer: new (
      options: object,
    ) => {
      send(options: {
        messages: { topic: string; partition: number; value: Buffer }[];
        acks: number;
      }): Promise<unknown>;
      close(): Promise<void>;
    };
  };
  const producer = new Producer({
    clientId: 'bench',
    bootstrapBrokers: [broker.bootstrap],
    idempotent: true,
    acks: -1,
  });
  try {
    return await rawBatches(`raw @platformatic/kafka producer (${RAW_BATCH}/send)`, (batch) =>
      producer.send({ messages: batch.map((value) => ({ topic, partition: 0, value })), acks: -1 }),
    );
  } finally {
    await producer.close();
  }
}

/**
 * A raw producer used the way a tuned caller would: RAW_BATCH messages per send(), sends awaited one at
 * a time (idempotent producers keep one request in flight). Each message's latency is its send's.
 */
async function rawBatches(name: string, send: (batch: Buffer[]) => Promise<unknown>): Promise<Row> {
  const latencies: number[] = [];
  const batch = Array.from({ length: RAW_BATCH }, () => PAYLOAD);
  for (let sent = 0; sent < WARMUP; sent += RAW_BATCH) await send(batch);
  const started = performance.now();
  for (let sent = 0; sent < MESSAGES; sent += RAW_BATCH) {
    const t0 = performance.now();
    await send(batch.slice(0, Math.min(RAW_BATCH, MESSAGES - sent)));
    const took = performance.now() - t0;
    for (let i = 0; i < Math.min(RAW_BATCH, MESSAGES - sent); i++) latencies.push(took);
  }
  return latencyRow(name, (performance.now() - started) / 1_000, latencies);
}

async function createTopic(broker: KafkaBroker, label: string): Promise<string> {
  // The adapter creates its topics on open; the raw and Java runs get theirs the same way.
  const opener = await kafkaAdapter({
    driver: 'platformatic',
    brokers: [broker.bootstrap],
    fencing: 'none',
  }).build();
  const topic = topicName(label);
  await (await opener.open({ channel: pchannel(topic, 1n) })).close();
  await opener.close();
  return topic;
}

/**
 * `default`: batch.size 16 KB. `tuned`: batch.size 1 MiB, as the adapter's batches (the baseline).
 * `transactional`: tuned, in transactions committed every JAVA_TXN_MS (ProducerPerformance's
 * --transactional-id/--transaction-duration-ms), as the fenced adapter writes. Java's commitTransaction
 * returns on EndTxn; it does not wait for the markers as the adapter does before acknowledging.
 */
async function javaProducer(
  broker: KafkaBroker,
  topic: string,
  mode: 'default' | 'tuned' | 'transactional',
): Promise<Row> {
  const result = await broker.runTool('org.apache.kafka.tools.ProducerPerformance', [
    '--bootstrap-server',
    broker.bootstrap,
    '--topic',
    topic,
    '--num-records',
    String(MESSAGES + JAVA_WARMUP),
    '--warmup-records',
    String(JAVA_WARMUP),
    '--record-size',
    String(SIZE),
    '--throughput',
    '-1',
    ...(mode === 'transactional'
      ? ['--transactional-id', `bench-java-${topic}`, '--transaction-duration-ms', String(JAVA_TXN_MS)]
      : []),
    '--command-property',
    'acks=all',
    'enable.idempotence=true',
    // The adapter sends up to 1 MiB per request; the tuned runs let Java batch as much.
    ...(mode === 'default' ? [] : ['batch.size=1048576', 'linger.ms=5']),
  ]);
  // "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, p50 ms 50th, ..."
  // With --warmup-records the last summary is the steady-state one.
  const line = result.stdout.split('\n').findLast((l) => l.includes('50th'));
  const match = line?.match(/([\d.]+) records\/sec.*?([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th/);
  if (!match) throw new Error(`ProducerPerformance printed no summary:\n${result.stdout}\n${result.stderr}`);
  const name =
    mode === 'transactional'
      ? `Java ProducerPerformance transactional (batch.size 1M, linger 5 ms, commit every ${JAVA_TXN_MS} ms)`
      : `Java ProducerPerformance (batch.size ${mode === 'tuned' ? '1M' : '16K'}, linger 5 ms)`;
  return {
    group: 'append',
    name,
    ...(mode === 'default' ? {} : { baseline: mode === 'tuned' ? 'java' : 'javaTxn' }),
    msgPerSec: Number(match[1]),
    p50Ms: Number(match[2]),
    p99Ms: Number(match[4]),
  };
}

async function javaConsumer(broker: KafkaBroker, topic: string): Promise<Row> {
  const result = await broker.runTool('org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server',
    broker.bootstrap,
    '--topic',
    topic,
    '--num-records',
    String(MESSAGES),
    '--timeout',
    '60000',
  ]);
  // Header: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
  //         rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const lines = result.stdout.trim().split('\n');
  const values = lines[lines.length - 1]?.split(',').map((v) => v.trim());
  // fetch.nMsg.sec leaves out the group join, as the adapter's scan (a plain fetch loop) has none.
  const fetchNMsgSec = Number(values?.[9]);
  if (!values || !Number.isFinite(fetchNMsgSec)) {
    throw new Error(`ConsumerPerformance printed no summary:\n${result.stdout}\n${result.stderr}`);
  }
  return {
    group: 'scan',
    name: 'Java ConsumerPerformance (fetch.nMsg.sec)',
    baseline: 'java',
    msgPerSec: fetchNMsgSec,
  };
}

function printTable(rows: readonly Row[]): void {
  // The baseline is the Java producer batching like the adapter (1 MiB requests); the append rows are
  // also compared with its transactional run (the like-for-like baseline of the fenced adapter).
  const baseline = (group: Row['group'], kind: NonNullable<Row['baseline']>) =>
    rows.find((r) => r.group === group && r.baseline === kind)?.msgPerSec;
  const ratio = (value: number, base: number | undefined) =>
    base ? `${((value / base) * 100).toFixed(0)} %` : '';
  const header = ['', 'msg/s', 'MB/s', 'p50 ms', 'p99 ms', 'vs Java', 'vs Java txn'];
  const body = rows.map((r) => [
    `${r.group}: ${r.name}`,
    r.msgPerSec.toFixed(0),
    ((r.msgPerSec * SIZE) / (1 << 20)).toFixed(1),
    r.p50Ms === undefined ? '' : r.p50Ms.toFixed(1),
    r.p99Ms === undefined ? '' : r.p99Ms.toFixed(1),
    ratio(r.msgPerSec, baseline(r.group, 'java')),
    r.group === 'append' ? ratio(r.msgPerSec, baseline('append', 'javaTxn')) : '',
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(line(row));
}

export async function runKafkaBench(): Promise<void> {
  const broker = await startKafka();
  const rows: Row[] = [];
  try {
    console.error(
      `Kafka ${broker.version} on ${broker.bootstrap}: ${MESSAGES} x ${SIZE} B per run, window ${WINDOW}`,
    );
    const java = await createTopic(broker, 'java');
    rows.push(await javaProducer(broker, await createTopic(broker, 'java-default'), 'default'));
    rows.push(await javaProducer(broker, java, 'tuned'));
    rows.push(await javaProducer(broker, await createTopic(broker, 'java-txn'), 'transactional'));
    const scanTopics = new Map<KafkaDriverName, string>();
    for (const driver of DRIVERS) {
      const fenced = await adapterAppend(broker, driver, 'transactional');
      rows.push(fenced.row);
      scanTopics.set(driver, fenced.topic);
      rows.push((await adapterAppend(broker, driver, 'none')).row);
    }
    if (DRIVERS.includes('kafkajs'))
      rows.push(await rawKafkaJs(broker, await createTopic(broker, 'raw-kafkajs')));
    if (DRIVERS.includes('platformatic'))
      rows.push(await rawPlatformatic(broker, await createTopic(broker, 'raw-platformatic')));
    rows.push(await javaConsumer(broker, java));
    for (const [driver, topic] of scanTopics) rows.push(await adapterScan(broker, driver, topic));
  } finally {
    await broker.stop();
  }
  printTable(rows);
}

await runKafkaBench();
