/**
 * `npx tsx bench/pulsar/append-scan.ts`: append throughput and latency (1 KB) through the Pulsar adapter
 * and through Pulsar's own Java perf producer (pulsar-testclient) on the same standalone, plus scan
 * throughput through the adapter. Prints a table with ratios; asserts nothing.
 *
 * Both writers are unbatched (one message = one entry, each individually persisted and addressable, what
 * a WAL needs) with up to WINDOW sends in flight; the batched Java run is printed as a reference only.
 * Environment: BENCH_MESSAGES (default 20000), BENCH_ROUNDS (default 3), BENCH_WINDOW (default 1000).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pulsarAdapter } from '@walstream/adapter-pulsar';
import { DeliverPolicy, MutableMessage, pchannel } from '@walstream/core';
import { type PulsarBroker, resolvePulsar, runJava, startPulsar } from '@walstream/testkit/pulsar';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 1000);
const SIZE = 1024;

interface Row {
  readonly name: string;
  readonly msgPerSec: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => a.msgPerSec - b.msgPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
}

let topicCounter = 0;
const topicName = (label: string) => `bench-${label}-${Date.now().toString(36)}-${++topicCounter}`;

async function adapterAppend(broker: PulsarBroker, name: string): Promise<Row> {
  const opener = await pulsarAdapter({ serviceUrl: broker.serviceUrl, adminUrl: broker.adminUrl }).build();
  try {
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    const payload = new Uint8Array(SIZE).fill(7);
    const latencies = new Float64Array(MESSAGES);
    const inFlight = new Set<Promise<void>>();
    const started = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      const sentAt = performance.now();
      const p: Promise<void> = wal.append(new MutableMessage(payload, {})).then(() => {
        latencies[i] = performance.now() - sentAt;
        inFlight.delete(p);
      });
      inFlight.add(p);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - started) / 1000;
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      name: 'adapter append',
      msgPerSec: MESSAGES / seconds,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
    };
  } finally {
    await opener.close();
  }
}

async function adapterScan(broker: PulsarBroker, name: string): Promise<Row> {
  const opener = await pulsarAdapter({ serviceUrl: broker.serviceUrl, adminUrl: broker.adminUrl }).build();
  try {
    const wal = await opener.open({ channel: pchannel(name, 1n, 'ro') });
    const started = performance.now();
    const scanner = await wal.read({
      name: 'bench-scan',
      deliverPolicy: DeliverPolicy.all(),
      readAheadBufferSize: 1000,
    });
    let count = 0;
    for await (const _ of scanner) if (++count === MESSAGES) break;
    const seconds = (performance.now() - started) / 1000;
    return { name: 'adapter scan (all)', msgPerSec: MESSAGES / seconds };
  } finally {
    await opener.close();
  }
}

/** Parses pulsar-perf's final "Aggregated" lines (throughput, then latency percentiles in ms). */
function parsePerf(name: string, output: string): Row {
  const throughput = /Aggregated throughput stats[^\n]*?---\s*([\d.,]+)\s*msg\/s/.exec(output);
  const latency = /Aggregated latency stats[^\n]*?med:\s*([\d.,]+)[^\n]*?99pct:\s*([\d.,]+)/.exec(output);
  if (!throughput)
    throw new Error(`cannot find the aggregated throughput in pulsar-perf's output:\n${output.slice(-3000)}`);
  const num = (text: string) => Number(text.replace(/,/g, ''));
  return {
    name,
    msgPerSec: num(throughput[1]!),
    ...(latency ? { p50Ms: num(latency[1]!), p99Ms: num(latency[2]!) } : {}),
  };
}

async function javaProduce(
  broker: PulsarBroker,
  classpath: string,
  confFile: string,
  name: string,
  batching: boolean,
): Promise<Row> {
  const topic = `persistent://public/default/${name}`;
  const result = await runJava(broker.java, classpath, {
    main: 'org.apache.pulsar.testclient.PulsarPerfTestTool',
    jvmArgs: ['-Xmx512m', '-Dlog4j2.level=WARN'],
    args: [
      confFile,
      'produce',
      '-u',
      broker.serviceUrl,
      '-au',
      broker.adminUrl,
      '-r',
      '1000000',
      '-s',
      String(SIZE),
      '-m',
      String(MESSAGES),
      '-o',
      String(WINDOW),
      ...(batching ? [] : ['-db']),
      topic,
    ],
    timeoutMs: 300_000,
  });
  if (result.code !== 0)
    throw new Error(
      `pulsar-perf exited ${result.code}:\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`,
    );
  return parsePerf(
    batching ? 'pulsar-perf produce (batched, reference)' : 'pulsar-perf produce (-db)',
    result.stdout + result.stderr,
  );
}

function format(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
}

async function main(): Promise<void> {
  const external = process.env.WALSTREAM_PULSAR_SERVICE_URL;
  if (external) throw new Error('this bench starts its own standalone; unset WALSTREAM_PULSAR_SERVICE_URL');
  const broker = await startPulsar();
  try {
    const perf = await resolvePulsar('perf');
    const confFile = join(broker.workDir, 'perf-client.conf');
    await writeFile(confFile, `brokerServiceUrl=${broker.serviceUrl}\nwebServiceUrl=${broker.adminUrl}\n`);
    process.stderr.write(`[bench] ${MESSAGES} x ${SIZE} B per run, ${ROUNDS} rounds, window ${WINDOW}\n`);

    // Warm-up: JIT on both sides, the broker's first ledgers.
    await adapterAppend(broker, topicName('warm'));
    const adapterRows: Row[] = [];
    const javaRows: Row[] = [];
    const batchedRows: Row[] = [];
    const scanRows: Row[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, so both writers see the same broker state (ledger cache, GC, disk).
      const name = topicName('adapter');
      adapterRows.push(await adapterAppend(broker, name));
      scanRows.push(await adapterScan(broker, name));
      javaRows.push(await javaProduce(broker, perf.classpath, confFile, topicName('java'), false));
      batchedRows.push(await javaProduce(broker, perf.classpath, confFile, topicName('javab'), true));
      process.stderr.write(`[bench] round ${round + 1}/${ROUNDS} done\n`);
    }
    const adapter = median(adapterRows);
    const java = median(javaRows);
    const rows: [Row, string][] = [
      [adapter, `${((adapter.msgPerSec / java.msgPerSec) * 100).toFixed(0)} % of pulsar-perf -db`],
      [java, 'baseline'],
      [median(batchedRows), 'reference (batching: not a WAL entry per message)'],
      [median(scanRows), ''],
    ];
    const header = ['case', 'msg/s', 'MB/s', 'p50 ms', 'p99 ms', 'ratio'];
    const lines = rows.map(([row, ratio]) => [
      row.name,
      format(row.msgPerSec, 0),
      format((row.msgPerSec * SIZE) / 1e6),
      format(row.p50Ms, 2),
      format(row.p99Ms, 2),
      ratio,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const print = (cells: string[]) => console.log(cells.map((c, i) => c.padEnd(widths[i]!)).join('  '));
    console.log(
      `\nPulsar ${broker.version} standalone, ${MESSAGES} x ${SIZE} B, median of ${ROUNDS} runs, window ${WINDOW}`,
    );
    print(header);
    print(widths.map((w) => '-'.repeat(w)));
    for (const line of lines) print(line);
  } finally {
    await broker.stop({ hard: true });
  }
}

await main();
