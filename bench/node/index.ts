/**
 * `pnpm bench:node`: the StreamingNode over loopback gRPC beside the same stack in process, in one table
 * from one run. Asserts nothing.
 *
 * The stack is the adapter behind `walSemantics()`. In process: `wal.append()` and a scanner in this
 * process. Over the wire: a node in a child process (`packages/node/test/support/node-process.ts`, the
 * same stack behind `startNode`), this process producing on a Produce stream and consuming on a Consume
 * stream. 1 KiB messages, with 1 and with 1000 appends in flight:
 *
 * - produce→ack: appends until the last one is answered (p50/p99 are per-append latencies);
 * - produce→consume: appends with a consumer of the vchannel already open, until it received the last one.
 *
 * On the memory adapter always; on Kafka (a broker the testkit harness starts here, kafkajs driver,
 * transactional fencing) unless BENCH_KAFKA=0. Then the append latency over the wire at half the maximum
 * load on memory: appends issued at half the rate the 1000-in-flight wire case reached, p99 of their
 * latencies (goal ≤ 2 ms).
 *
 * Every case runs once to warm up, then BENCH_ROUNDS rounds of all cases in turn (interleaved); each case
 * keeps its median round; spread = (max - min) / median / 2 of its rounds' rates.
 *
 * Environment: BENCH_ROUNDS (default 3), BENCH_MESSAGES (messages of a 1000-in-flight run, default 20000
 * on memory, 10000 on Kafka), BENCH_SINGLE (messages of a 1-in-flight run, default 1000 on memory, 200 on
 * Kafka), BENCH_KAFKA=0 to leave Kafka out.
 */
import { kafkaAdapter } from '@walstream/adapter-kafka';
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  type MessageID,
  MutableMessage,
  pchannel,
  type Wal,
  type WalOpener,
} from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { connectRpc, type RpcChannel } from '@walstream/rpc';
import { type KafkaBroker, startKafka } from '@walstream/testkit/kafka';
import type { NodeProcessConfig } from '../../packages/node/test/support/node-process.ts';
import { type NodeChild, spawnNode } from '../../packages/node/test/support/spawn-node.ts';
import { assignReady, WireConsumer, WireProducer } from '../../packages/node/test/support/wire.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WITH_KAFKA = process.env.BENCH_KAFKA !== '0';
const SIZE = 1024;
const PAYLOAD = new Uint8Array(SIZE).map((_, i) => (i * 7) & 0xff);

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function message(vchannel: string, seq: number): MutableMessage {
  return new MutableMessage(PAYLOAD, { seq: String(seq), _t: '3001' }).withVChannel(vchannel);
}

interface Sample {
  readonly messages: number;
  readonly seconds: number;
  readonly latenciesMs?: number[];
}

/** `count` operations with at most `window` in flight; seconds and each one's latency. */
async function windowed(count: number, window: number, op: (i: number) => Promise<unknown>): Promise<Sample> {
  const latencies = new Array<number>(count);
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
  return { messages: count, seconds: (performance.now() - started) / 1000, latenciesMs: latencies };
}

/** One stack (memory or Kafka): the in-process opener and the node process, each with its own pchannels. */
interface Stack {
  readonly name: string;
  readonly messages: number;
  readonly single: number;
  readonly opener: WalOpener;
  readonly node: NodeChild;
  readonly rpc: RpcChannel;
  /** A fresh pchannel with its vchannel created: in process, or on the node at term 1. */
  freshLocal(): Promise<{ wal: Wal; vchannel: string; created: MessageID }>;
  freshWire(): Promise<{ name: string; vchannel: string; producer: WireProducer; created: MessageID }>;
}

let channels = 0;
async function stackOf(
  name: string,
  adapter: () => WalImplsBuilder,
  nodeConfig: NodeProcessConfig,
  messages: number,
  single: number,
): Promise<Stack> {
  const opener = await createWal()
    .adapter(adapter())
    .use(...walSemantics())
    .build();
  const node = await spawnNode({
    ...nodeConfig,
    // The bench measures the wire, not the refusals: no cap below its own window.
    flowControl: { maxInFlightPerStream: 4096, maxBytesInFlight: 256 * 1024 * 1024 },
  });
  const rpc = connectRpc(node.address);
  const prefix = `bench-${name}-${Date.now().toString(36)}`;
  return {
    name,
    messages,
    single,
    opener,
    node,
    rpc,
    async freshLocal() {
      const pname = `${prefix}-l${++channels}`;
      const wal = await opener.open({ channel: pchannel(pname, 1n) });
      const vchannel = `${pname}_v0`;
      const { messageId } = await wal.append(createVChannel(vchannel));
      return { wal, vchannel, created: messageId };
    },
    async freshWire() {
      const pname = `${prefix}-w${++channels}`;
      await assignReady(rpc, pname, 1n, 60_000);
      const producer = await WireProducer.open(rpc, pname, 1n);
      const vchannel = `${pname}_v0`;
      const { messageId } = await producer.append(createVChannel(vchannel));
      return { name: pname, vchannel, producer, created: messageId };
    },
  };
}

type Path = 'in process' | 'wire';
type Kind = 'produce→ack' | 'produce→consume';

interface BenchCase {
  readonly stack: string;
  readonly kind: Kind;
  readonly window: number;
  readonly path: Path;
  readonly run: () => Promise<Sample>;
}

function cases(stack: Stack): BenchCase[] {
  const out: BenchCase[] = [];
  for (const window of [1, 1000]) {
    const count = window === 1 ? stack.single : stack.messages;
    out.push({
      stack: stack.name,
      kind: 'produce→ack',
      window,
      path: 'in process',
      run: async () => {
        const { wal, vchannel } = await stack.freshLocal();
        collectGarbage();
        const sample = await windowed(count, window, (i) => wal.append(message(vchannel, i)));
        await wal.close();
        return sample;
      },
    });
    out.push({
      stack: stack.name,
      kind: 'produce→ack',
      window,
      path: 'wire',
      run: async () => {
        const { producer, vchannel } = await stack.freshWire();
        collectGarbage();
        const sample = await windowed(count, window, (i) => producer.append(message(vchannel, i)));
        await producer.close();
        return sample;
      },
    });
    out.push({
      stack: stack.name,
      kind: 'produce→consume',
      window,
      path: 'in process',
      run: async () => {
        const { wal, vchannel, created } = await stack.freshLocal();
        const scanner = await wal.read({ vchannel, deliverPolicy: DeliverPolicy.startAfter(created) });
        collectGarbage();
        const started = performance.now();
        const consumed = (async () => {
          let seen = 0;
          for await (const m of scanner) {
            if (m.properties.seq !== undefined && ++seen === count) break;
          }
        })();
        await windowed(count, window, (i) => wal.append(message(vchannel, i)));
        await consumed;
        const seconds = (performance.now() - started) / 1000;
        await scanner.close();
        await wal.close();
        return { messages: count, seconds };
      },
    });
    out.push({
      stack: stack.name,
      kind: 'produce→consume',
      window,
      path: 'wire',
      run: async () => {
        const { name, producer, vchannel, created } = await stack.freshWire();
        const consumer = await WireConsumer.open(
          stack.rpc,
          name,
          1n,
          vchannel,
          DeliverPolicy.startAfter(created),
        );
        collectGarbage();
        const started = performance.now();
        const consumed = consumer.until(count);
        await windowed(count, window, (i) => producer.append(message(vchannel, i)));
        await consumed;
        const seconds = (performance.now() - started) / 1000;
        consumer.cancel();
        await producer.close();
        return { messages: count, seconds };
      },
    });
  }
  return out;
}

interface Measured {
  readonly bench: BenchCase;
  readonly median: Sample;
  readonly spread: number;
}

async function measure(all: readonly BenchCase[]): Promise<Measured[]> {
  const samples = all.map((): Sample[] => []);
  for (const bench of all) await bench.run();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, bench] of all.entries()) {
      samples[i]!.push(await bench.run());
      collectGarbage();
    }
    process.stderr.write(`bench:node round ${round + 1}/${ROUNDS} done\n`);
  }
  return all.map((bench, i) => {
    const rate = (s: Sample) => s.messages / s.seconds;
    const sorted = [...samples[i]!].sort((a, b) => rate(a) - rate(b));
    const median = sorted[Math.floor(sorted.length / 2)]!;
    return { bench, median, spread: (rate(sorted.at(-1)!) - rate(sorted[0]!)) / rate(median) / 2 };
  });
}

/** Appends at `rate` per second (issued on a 1 ms clock, not waiting for results), for `seconds`. */
async function paced(
  stack: Stack,
  rate: number,
  seconds: number,
): Promise<{ p50: number; p99: number; sent: number }> {
  const { producer, vchannel } = await stack.freshWire();
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      const t0 = performance.now();
      const n = sent++;
      pending.push(
        producer.append(message(vchannel, n)).then(() => {
          latencies.push(performance.now() - t0);
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  await producer.close();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), sent };
}

function fmtRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function fmtMs(value: number | undefined): string {
  return value === undefined ? '' : value.toFixed(value < 1 ? 3 : 2);
}

function printTable(results: readonly Measured[]): void {
  const rate = (m: Measured) => m.median.messages / m.median.seconds;
  const header = [
    'stack',
    'case',
    'in flight',
    'in process msg/s',
    'wire msg/s',
    'wire / in process',
    'spread in / wire',
    'wire p50 / p99 ms',
  ];
  const rows: string[][] = [];
  for (const wire of results.filter((r) => r.bench.path === 'wire')) {
    const local = results.find(
      (r) =>
        r.bench.path === 'in process' &&
        r.bench.stack === wire.bench.stack &&
        r.bench.kind === wire.bench.kind &&
        r.bench.window === wire.bench.window,
    )!;
    const latencies = wire.median.latenciesMs
      ? [...wire.median.latenciesMs].sort((a, b) => a - b)
      : undefined;
    rows.push([
      wire.bench.stack,
      wire.bench.kind,
      String(wire.bench.window),
      fmtRate(rate(local)),
      fmtRate(rate(wire)),
      `${((100 * rate(wire)) / rate(local)).toFixed(1)} %`,
      `±${(100 * local.spread).toFixed(0)} % / ±${(100 * wire.spread).toFixed(0)} %`,
      latencies ? `${fmtMs(percentile(latencies, 50))} / ${fmtMs(percentile(latencies, 99))}` : '',
    ]);
  }
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  console.log(
    `\n### node: loopback gRPC vs in process (1 KiB messages; median of ${ROUNDS} interleaved rounds; spread = (max - min) / median / 2)\n`,
  );
  console.log(line(header));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

const stacks: Stack[] = [];
let broker: KafkaBroker | undefined;
try {
  stacks.push(
    await stackOf(
      'memory',
      () => memoryAdapter(),
      { adapter: 'memory' },
      Number(process.env.BENCH_MESSAGES ?? 20_000),
      Number(process.env.BENCH_SINGLE ?? 1_000),
    ),
  );
  if (WITH_KAFKA) {
    broker = await startKafka();
    const topicPrefix = `bench-node-${Date.now().toString(36)}-`;
    stacks.push(
      await stackOf(
        'kafka',
        () =>
          kafkaAdapter({ driver: 'kafkajs', brokers: [broker!.bootstrap], topicPrefix: `${topicPrefix}l-` }),
        { adapter: 'kafka', bootstrap: broker.bootstrap, topicPrefix: `${topicPrefix}w-` },
        Number(process.env.BENCH_MESSAGES ?? 10_000),
        Number(process.env.BENCH_SINGLE ?? 200),
      ),
    );
  }
  const results = await measure(stacks.flatMap(cases));
  printTable(results);

  // Half the maximum load over the wire on memory: half the rate of its 1000-in-flight produce→ack.
  const memoryMax = results.find(
    (r) =>
      r.bench.stack === 'memory' &&
      r.bench.path === 'wire' &&
      r.bench.kind === 'produce→ack' &&
      r.bench.window === 1000,
  )!;
  const half = memoryMax.median.messages / memoryMax.median.seconds / 2;
  const atHalf = await paced(stacks[0]!, half, 5);
  console.log(
    `\nappend latency over the wire at half the maximum load on memory (${fmtRate(half)} msg/s for 5 s, ${atHalf.sent} appends): p50 ${fmtMs(atHalf.p50)} ms, p99 ${fmtMs(atHalf.p99)} ms (goal ≤ 2 ms)`,
  );
  const goal = (stack: string, at: number) => {
    const ratios = results
      .filter((r) => r.bench.stack === stack && r.bench.path === 'wire')
      .map((wire) => {
        const local = results.find(
          (r) =>
            r.bench.path === 'in process' &&
            r.bench.stack === stack &&
            r.bench.kind === wire.bench.kind &&
            r.bench.window === wire.bench.window,
        )!;
        return wire.median.messages / wire.median.seconds / (local.median.messages / local.median.seconds);
      });
    return `${stack}: lowest wire / in process ${(100 * Math.min(...ratios)).toFixed(1)} % (goal ≥ ${at} %)`;
  };
  console.log(goal('memory', 60));
  if (WITH_KAFKA) console.log(goal('kafka', 90));
} finally {
  for (const stack of stacks) {
    stack.rpc.close();
    await stack.node.close();
    await stack.opener.close();
  }
  await broker?.stop();
}
