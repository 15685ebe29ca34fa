/**
 * `npx tsx --tsconfig tsconfig.tests.json bench/pulsar/append-scan.ts`: append and scan throughput (1 KB)
 * through the Pulsar adapter and through Pulsar's own Java client and perf tool, all on one standalone
 * started by this script, in one run. Prints one table with ratios; asserts nothing.
 *
 * Each round runs, on fresh topics:
 * - the adapter and `JavaBaseline.java` (Pulsar's Java client driven the same way, in one JVM that lives
 *   through the whole bench and is warmed up first), side by side and in alternating order: append with
 *   ≤ WINDOW in flight, a scan from the earliest entry of what each just wrote, append paced at RATE msg/s;
 * - `pulsar-perf produce -db` (unbatched) and `pulsar-perf read` of what it just wrote: the tool's own
 *   figures, from a fresh JVM each time;
 * - `pulsar-perf produce` batched: a reference only (a batch is one entry, not a WAL entry per message).
 * Figures are medians over the rounds (the run with the median throughput, its latencies with it);
 * every round's figures go to stderr. Every writer is unbatched (one message = one entry, individually
 * persisted and addressable, what a WAL needs). "CPU µs/msg" is the CPU time of the whole client process
 * per message (Node's `process.cpuUsage()`, the JVM's process CPU time with its JIT and GC threads): on
 * a machine shared with the broker, what a client burns the broker cannot use.
 *
 * Environment: BENCH_MESSAGES (default 50000), BENCH_ROUNDS (default 5), BENCH_WINDOW (default 1000),
 * BENCH_RATE (msg/s of the paced runs, default 5000; 0 turns them off).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pulsarAdapter } from '@walstream/adapter-pulsar';
import { DeliverPolicy, MutableMessage, pchannel } from '@walstream/core';
import { type PulsarBroker, resolvePulsar, runJava, startPulsar } from '@walstream/testkit/pulsar';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 1000);
const RATE = Number(process.env.BENCH_RATE ?? 5000);
const SIZE = 1024;
const SCAN_QUEUE = 1000;
const JAVA_BASELINE = fileURLToPath(new URL('./JavaBaseline.java', import.meta.url));

interface Row {
  readonly msgPerSec: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** CPU time of the whole client process per message (GC and JIT included). */
  readonly cpuUsPerMsg?: number;
}

/** Microseconds of CPU per message since `since` (a `process.cpuUsage()`), user and system. */
function cpuPerMessage(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / MESSAGES;
}

function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The run with the median throughput (its latencies come with it). */
function median(rows: readonly Row[]): Row {
  const sorted = [...rows].sort((a, b) => a.msgPerSec - b.msgPerSec);
  return sorted[Math.floor(sorted.length / 2)]!;
}

let topicCounter = 0;
const topicName = (label: string) => `bench-${label}-${Date.now().toString(36)}-${++topicCounter}`;

/**
 * Appends MESSAGES through the adapter with at most WINDOW in flight, or paced at `rate` msg/s (sends
 * that fell due go out every millisecond). Latency: from the append call to its id.
 */
async function adapterAppend(broker: PulsarBroker, name: string, rate = 0): Promise<Row> {
  const opener = await pulsarAdapter({ serviceUrl: broker.serviceUrl, adminUrl: broker.adminUrl }).build();
  try {
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    const payload = new Uint8Array(SIZE).fill(7);
    const latencies = new Float64Array(MESSAGES);
    let inFlight = 0;
    let settled = 0;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const resume = () => {
      const waiting = wake;
      wake = undefined;
      waiting?.();
    };
    const waitForProgress = () => new Promise<void>((resolve) => (wake = resolve));
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      if (rate > 0) {
        const due = started + (i * 1000) / rate;
        const now = performance.now();
        if (due > now) await new Promise((resolve) => setTimeout(resolve, Math.max(1, due - now)));
      }
      while (inFlight >= WINDOW) await waitForProgress();
      if (failure) throw failure;
      inFlight++;
      const sentAt = performance.now();
      wal.append(new MutableMessage(payload, {})).then(
        () => {
          latencies[i] = performance.now() - sentAt;
          inFlight--;
          settled++;
          resume();
        },
        (error: unknown) => {
          failure ??= error;
          inFlight--;
          settled++;
          resume();
        },
      );
    }
    while (settled < MESSAGES) await waitForProgress();
    if (failure) throw failure;
    const seconds = (performance.now() - started) / 1000;
    latencies.sort();
    return {
      msgPerSec: MESSAGES / seconds,
      cpuUsPerMsg: cpuPerMessage(cpu),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    };
  } finally {
    await opener.close();
  }
}

/** Reads MESSAGES from the earliest entry; timed from opening the reader (subscribe included). */
async function adapterScan(broker: PulsarBroker, name: string): Promise<Row> {
  const opener = await pulsarAdapter({ serviceUrl: broker.serviceUrl, adminUrl: broker.adminUrl }).build();
  try {
    const wal = await opener.open({ channel: pchannel(name, 1n, 'ro') });
    const cpu = process.cpuUsage();
    const started = performance.now();
    const scanner = await wal.read({
      name: 'bench-scan',
      deliverPolicy: DeliverPolicy.all(),
      readAheadBufferSize: SCAN_QUEUE,
    });
    let count = 0;
    for await (const _ of scanner) if (++count === MESSAGES) break;
    return { msgPerSec: MESSAGES / ((performance.now() - started) / 1000), cpuUsPerMsg: cpuPerMessage(cpu) };
  } finally {
    await opener.close();
  }
}

/** Pulsar's Java client driven like the adapter: one JVM for the whole bench, one command at a time. */
class JavaBaseline {
  readonly #process: ChildProcessWithoutNullStreams;
  readonly #results: string[] = [];
  #waiting: ((line: string | undefined) => void) | undefined;
  #exited = false;
  #stderr = '';

  constructor(broker: PulsarBroker) {
    this.#process = spawn(
      broker.java,
      ['-Xmx512m', '-cp', broker.classpath, JAVA_BASELINE, broker.serviceUrl],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    createInterface({ input: this.#process.stdout }).on('line', (line) => {
      if (!line.startsWith('RESULT ')) return;
      this.#results.push(line.slice('RESULT '.length));
      this.#wake();
    });
    this.#process.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4000);
    });
    this.#process.on('exit', () => {
      this.#exited = true;
      this.#wake();
    });
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(this.#results.shift());
  }

  async #call(command: string): Promise<Row> {
    this.#process.stdin.write(`${command}\n`);
    const line =
      this.#results.shift() ??
      (this.#exited
        ? undefined
        : await new Promise<string | undefined>((resolve) => {
            this.#waiting = resolve;
          }));
    if (line === undefined) throw new Error(`JavaBaseline ended during "${command}":\n${this.#stderr}`);
    return JSON.parse(line) as Row;
  }

  produce(name: string, rate = 0): Promise<Row> {
    return this.#call(`produce persistent://public/default/${name} ${MESSAGES} ${WINDOW} ${SIZE} ${rate}`);
  }

  scan(name: string): Promise<Row> {
    return this.#call(`scan persistent://public/default/${name} ${MESSAGES} ${SCAN_QUEUE}`);
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise((resolve) => this.#process.once('exit', resolve));
    this.#process.stdin.end('quit\n');
    await exited;
  }
}

/** Milliseconds of a log4j timestamp `2026-01-02T03:04:05,678` at the start of `line`. */
function logTime(output: string, pattern: RegExp, what: string): number {
  const line = output.split('\n').find((l) => pattern.test(l));
  const stamp = line && /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d),(\d{3})/.exec(line);
  if (!stamp) throw new Error(`no ${what} line in pulsar-perf's output:\n${output.slice(-3000)}`);
  return Date.parse(`${stamp[1]}.${stamp[2]}Z`);
}

const num = (text: string) => Number(text.replace(/,/g, ''));

/**
 * pulsar-perf's figures. Its own "Aggregated throughput" divides by the time until the JVM's shutdown
 * hook, which includes the 5 s the producer sleeps after its last send, so it is not used: throughput is
 * the messages the tool reports (the producer overshoots `-m` by up to WINDOW; the broker's counters
 * agree with its count) over the time between its "Created producers" (or "Start reading") and "DONE"
 * log lines. For the producer that span ends at its last send, not its last receipt, which flatters it a
 * little. Latency percentiles are the tool's aggregated histogram, run with `--warmup-time 0` so that it
 * covers every message (its default leaves out the first second, which at these rates can be most of the
 * run); they include the cold JVM's JIT warm-up. An empty histogram (all zeros) is reported as missing.
 */
function parsePerf(output: string, kind: 'produce' | 'read'): Row {
  const start = logTime(output, kind === 'produce' ? /Created \d+ producers/ : /Start reading from/, 'start');
  const end = logTime(output, /DONE \(reached the maximum number/, 'DONE');
  const counted = /Aggregated throughput stats --- ([\d,]+) records (?:sent|received)/.exec(output);
  const messages = counted ? num(counted[1]!) : MESSAGES;
  const latency = /Aggregated latency stats[^\n]*?med:\s*([\d.,]+)[^\n]*?99pct:\s*([\d.,]+)/.exec(output);
  const p50Ms = latency ? num(latency[1]!) : 0;
  const p99Ms = latency ? num(latency[2]!) : 0;
  return {
    msgPerSec: messages / ((end - start) / 1000),
    ...(kind === 'produce' && p99Ms > 0 ? { p50Ms, p99Ms } : {}),
  };
}

async function pulsarPerf(
  broker: PulsarBroker,
  classpath: string,
  confFile: string,
  kind: 'produce' | 'read',
  name: string,
  batching = false,
): Promise<Row> {
  const options =
    kind === 'produce'
      ? [
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
        ]
      : ['-n', String(MESSAGES), '-q', String(SCAN_QUEUE)];
  if (kind === 'produce' && !batching) options.push('-db');
  const result = await runJava(broker.java, classpath, {
    main: 'org.apache.pulsar.testclient.PulsarPerfTestTool',
    jvmArgs: ['-Xmx512m', '-Dlog4j2.level=WARN'],
    args: [confFile, kind, '-u', broker.serviceUrl, ...options, `persistent://public/default/${name}`],
    timeoutMs: 300_000,
  });
  if (result.code !== 0) {
    throw new Error(
      `pulsar-perf ${kind} exited ${result.code}:\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`,
    );
  }
  return parsePerf(result.stdout + result.stderr, kind);
}

function format(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits);
}

const percent = (a: number, b: number) => `${((a / b) * 100).toFixed(0)} %`;

async function main(): Promise<void> {
  if (process.env.WALSTREAM_PULSAR_SERVICE_URL) {
    throw new Error('this bench starts its own standalone; unset WALSTREAM_PULSAR_SERVICE_URL');
  }
  const broker = await startPulsar();
  try {
    const perf = await resolvePulsar('perf');
    const confFile = join(broker.workDir, 'perf-client.conf');
    await writeFile(confFile, `brokerServiceUrl=${broker.serviceUrl}\nwebServiceUrl=${broker.adminUrl}\n`);
    process.stderr.write(
      `[bench] ${MESSAGES} x ${SIZE} B per run, ${ROUNDS} rounds, window ${WINDOW}, paced runs at ${RATE} msg/s\n`,
    );

    // Warm-up: JIT on both sides (the adapter here, the Java client in its JVM), the broker's first ledgers.
    const java = new JavaBaseline(broker);
    try {
      const warm = topicName('warm');
      await adapterAppend(broker, warm);
      await adapterScan(broker, warm);
      const javaWarm = topicName('java-warm');
      await java.produce(javaWarm);
      await java.scan(javaWarm);
    } catch (error) {
      await java.close();
      throw error;
    }
    const runs = new Map<string, Row[]>();
    const add = (key: string, row: Row) => runs.set(key, [...(runs.get(key) ?? []), row]);
    /** Runs the adapter's and Java's variant of one step, the adapter first in even rounds. */
    const pair = async (round: number, adapterStep: () => Promise<Row>, javaStep: () => Promise<Row>) => {
      if (round % 2 === 0) return [await adapterStep(), await javaStep()] as const;
      const javaRow = await javaStep();
      return [await adapterStep(), javaRow] as const;
    };
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const mine = topicName('adapter');
        const theirs = topicName('java');
        const [adapterAppended, javaAppended] = await pair(
          round,
          () => adapterAppend(broker, mine),
          () => java.produce(theirs),
        );
        add('adapterAppend', adapterAppended);
        add('javaAppend', javaAppended);
        const [adapterScanned, javaScanned] = await pair(
          round,
          () => adapterScan(broker, mine),
          () => java.scan(theirs),
        );
        add('adapterScan', adapterScanned);
        add('javaScan', javaScanned);
        if (RATE > 0) {
          const [adapterPaced, javaPaced] = await pair(
            round,
            () => adapterAppend(broker, topicName('adapter-rate'), RATE),
            () => java.produce(topicName('java-rate'), RATE),
          );
          add('adapterRate', adapterPaced);
          add('javaRate', javaPaced);
        }
        const perfTopic = topicName('perf');
        add('perfProduce', await pulsarPerf(broker, perf.classpath, confFile, 'produce', perfTopic));
        add('perfRead', await pulsarPerf(broker, perf.classpath, confFile, 'read', perfTopic));
        add(
          'perfBatched',
          await pulsarPerf(broker, perf.classpath, confFile, 'produce', topicName('perfb'), true),
        );
        const brief = (key: string) => {
          const row = runs.get(key)?.at(-1);
          if (!row) return `${key} –`;
          const latency =
            row.p99Ms === undefined ? '' : ` (p50 ${format(row.p50Ms)} p99 ${format(row.p99Ms)} ms)`;
          const cpu = row.cpuUsPerMsg === undefined ? '' : ` ${format(row.cpuUsPerMsg)} µs/msg`;
          return `${key} ${format(row.msgPerSec, 0)}${latency}${cpu}`;
        };
        process.stderr.write(
          `[bench] round ${round + 1}/${ROUNDS}: ${[...runs.keys()].map(brief).join(', ')}\n`,
        );
      }
    } finally {
      await java.close();
    }
    const m = (key: string) => {
      const rows = runs.get(key);
      return rows ? median(rows) : undefined;
    };
    /** The lowest and highest throughput over the rounds: how much one run on this machine swings. */
    const range = (key: string) => {
      const rates = (runs.get(key) ?? []).map((row) => row.msgPerSec);
      return rates.length === 0 ? '–' : `${format(Math.min(...rates), 0)}–${format(Math.max(...rates), 0)}`;
    };
    const javaAppend = m('javaAppend')!;
    const perfProduce = m('perfProduce')!;
    const javaScan = m('javaScan')!;
    const javaRate = m('javaRate');
    const adapterAppendRow = m('adapterAppend')!;
    const adapterRate = m('adapterRate');
    const adapterScanRow = m('adapterScan')!;
    const rows: [string, string, string][] = [
      [
        `adapter append (≤ ${WINDOW} in flight)`,
        'adapterAppend',
        `${percent(adapterAppendRow.msgPerSec, javaAppend.msgPerSec)} of Java client, ${percent(adapterAppendRow.msgPerSec, perfProduce.msgPerSec)} of pulsar-perf`,
      ],
      [`Java client append (≤ ${WINDOW} in flight)`, 'javaAppend', 'baseline'],
      ['pulsar-perf produce -db', 'perfProduce', "tool's figures (see notes)"],
      ['pulsar-perf produce, batched', 'perfBatched', 'reference: batches are not WAL entries'],
    ];
    if (RATE > 0 && adapterRate && javaRate) {
      rows.push(
        [
          `adapter append paced at ${RATE}/s`,
          'adapterRate',
          `p50 ${format(adapterRate.p50Ms! / javaRate.p50Ms!, 2)}x, p99 ${format(adapterRate.p99Ms! / javaRate.p99Ms!, 2)}x Java's`,
        ],
        [`Java client append paced at ${RATE}/s`, 'javaRate', 'baseline'],
      );
    }
    rows.push(
      [
        'adapter scan (all)',
        'adapterScan',
        `${percent(adapterScanRow.msgPerSec, javaScan.msgPerSec)} of Java reader`,
      ],
      ['Java reader scan (earliest)', 'javaScan', 'baseline'],
      ['pulsar-perf read', 'perfRead', "tool's figure (cold JVM)"],
    );
    const header = ['case', 'msg/s', 'range', 'MB/s', 'p50 ms', 'p99 ms', 'CPU µs/msg', 'ratio'];
    const lines = rows.map(([name, key, ratio]) => {
      const row = m(key);
      return [
        name,
        format(row?.msgPerSec, 0),
        range(key),
        format(row ? (row.msgPerSec * SIZE) / 1e6 : undefined),
        format(row?.p50Ms, 2),
        format(row?.p99Ms, 2),
        format(row?.cpuUsPerMsg, 1),
        ratio,
      ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const print = (cells: string[]) =>
      console.log(
        cells
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      );
    console.log(
      `\nPulsar ${broker.version} standalone, ${availableParallelism()} cores shared by broker and clients, ` +
        `${MESSAGES} x ${SIZE} B, median of ${ROUNDS} rounds (range: lowest–highest msg/s)`,
    );
    print(header);
    print(widths.map((w) => '-'.repeat(w)));
    for (const line of lines) print(line);
  } finally {
    await broker.stop({ hard: true });
  }
}

await main();
