/**
 * `pnpm bench:idempotent`: what idempotent appends cost. One coordinator and one StreamingNode in this
 * process over loopback gRPC (memory adapter), two clients of it — one plain (at least once), one with
 * `idempotent: true` — appending 1 KiB messages to their own pchannel, with 1 and with 256 appends in
 * flight. Asserts nothing.
 *
 * Every case runs once to warm up (so the idempotent pchannel's window was read from its log before the
 * first measured round), then BENCH_ROUNDS rounds of all cases in turn (interleaved); each case keeps its
 * median round; spread = (max - min) / median / 2 of its rounds' rates.
 *
 * Then the node's part alone, in process: `wal.append()` against `IdempotentAppends.append()` on one WAL
 * (memory adapter, walSemantics()), 1 and 256 in flight — the window's cost without the wire's noise.
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_MESSAGES (messages of a 256-in-flight run, default 10000),
 * BENCH_SINGLE (messages of a 1-in-flight run, default 1000).
 */
import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import { RpcNodeManagerClient, serveCoordinator, startCoordinator } from '@walstream/coord';
import { createWal, MemoryCatalog, MutableMessage, pchannel, vchannelName } from '@walstream/core';
import { noObservability } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { startNode } from '@walstream/node';
import { connectRpc } from '@walstream/rpc';
import { type Client, createClient } from '../../packages/client/src/index.ts';
import { IdempotentAppends, resolveIdempotence } from '../../packages/node/src/dedup/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const SINGLE = Number(process.env.BENCH_SINGLE ?? 1_000);
const PAYLOAD = new Uint8Array(1024).map((_, i) => (i * 7) & 0xff);

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Run {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
}

/** `count` appends, at most `inFlight` at a time; the rate and per-append latencies. */
async function appendRun(client: Client, vchannel: string, count: number, inFlight: number): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const seq = next++;
      const at = performance.now();
      await client.append(
        new MutableMessage(PAYLOAD, { seq: String(seq), _t: '3001' }).withVChannel(vchannel),
      );
      latencies.push(performance.now() - at);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { rate: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** `count` calls of `append`, at most `inFlight` at a time. */
async function callRun(
  append: (seq: number) => Promise<unknown>,
  count: number,
  inFlight: number,
): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const seq = next++;
      const at = performance.now();
      await append(seq);
      latencies.push(performance.now() - at);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { rate: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

interface Case {
  readonly name: string;
  readonly inFlight: number;
  readonly run: () => Promise<Run>;
}

/** Warm-up, then ROUNDS interleaved rounds; prints the table, each row against the plain row of its in-flight. */
async function measure(title: string, cases: readonly Case[]): Promise<void> {
  const runs = cases.map((): Run[] => []);
  for (const c of cases) await c.run();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of cases.entries()) {
      collectGarbage();
      runs[i]!.push(await c.run());
    }
  }
  const rows = cases.map((c, i) => {
    const sorted = [...runs[i]!].sort((a, b) => a.rate - b.rate);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const spread = (sorted.at(-1)!.rate - sorted[0]!.rate) / median.rate / 2;
    return { name: c.name, inFlight: c.inFlight, median, spread };
  });
  console.log(`\n### ${title} (median of ${ROUNDS} interleaved rounds; spread = (max - min) / median / 2)\n`);
  console.log('| case | appends/s | spread | vs plain | p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    const base = rows.find((r) => r.inFlight === row.inFlight && r.name.startsWith('plain'))!;
    console.log(
      `| ${row.name} | ${Math.round(row.median.rate).toLocaleString('en-US')} | ±${(100 * row.spread).toFixed(0)} % | ${((100 * row.median.rate) / base.median.rate).toFixed(1)} % | ${row.median.p50.toFixed(3)} | ${row.median.p99.toFixed(3)} |`,
    );
  }
}

async function inProcess(): Promise<void> {
  const opener = await createWal({ catalog: new MemoryCatalog() })
    .adapter(memoryAdapter())
    .use(...walSemantics())
    .build();
  const wal = await opener.open({ channel: pchannel('bench-wal', 1n) });
  const vchannel = vchannelName('bench-wal', 'v0');
  await wal.append(createVChannel(vchannel));
  const appends = new IdempotentAppends(resolveIdempotence('bench', undefined), noObservability);
  let sequence = 0n;
  const message = (seq: number) =>
    new MutableMessage(PAYLOAD, { seq: String(seq), _t: '3001' }).withVChannel(vchannel);
  const plain = (seq: number) => wal.append(message(seq));
  const idem = (seq: number) =>
    appends.append(wal, message(seq), { producerId: 'bench', sequence: ++sequence });
  await measure(
    "the node's part in process: wal.append vs IdempotentAppends.append (memory adapter, walSemantics(), 1 KiB)",
    [
      { name: 'plain, 1 in flight', inFlight: 1, run: () => callRun(plain, SINGLE * 5, 1) },
      { name: 'idempotent, 1 in flight', inFlight: 1, run: () => callRun(idem, SINGLE * 5, 1) },
      { name: 'plain, 256 in flight', inFlight: 256, run: () => callRun(plain, MESSAGES * 2, 256) },
      { name: 'idempotent, 256 in flight', inFlight: 256, run: () => callRun(idem, MESSAGES * 2, 256) },
    ],
  );
  await opener.close();
}

async function main(): Promise<void> {
  const catalog = new MemoryCatalog();
  const store = new MemoryLogStore();
  const pchannels = ['bench-plain', 'bench-idem'];
  const coordinator = await startCoordinator({ catalog, pchannels, policy: 'pchannelCount' });
  const node = await startNode({
    adapter: memoryAdapter({ store }),
    catalog,
    listen: '127.0.0.1:0',
    nodeId: 1n,
    allocator: coordinator.tso,
  });
  const rpc = connectRpc(node.address);
  const session = coordinator.sessions.join(new RpcNodeManagerClient(rpc), {
    address: node.address,
    nodeId: '1',
  });
  await coordinator.balancer.idle(AbortSignal.timeout(20_000));
  const server = await serveCoordinator(coordinator, { listen: '127.0.0.1:0' });
  const plain = createClient({ coord: server.address, appendTimeoutMs: 120_000 });
  const idem = createClient({ coord: server.address, appendTimeoutMs: 120_000, idempotent: true });
  const vchannels = { plain: vchannelName('bench-plain', 'v0'), idem: vchannelName('bench-idem', 'v0') };
  await plain.append(createVChannel(vchannels.plain));
  await idem.append(createVChannel(vchannels.idem));

  const wire = (client: Client, vchannel: string, count: number, inFlight: number) => () =>
    appendRun(client, vchannel, count, inFlight);
  await measure('idempotent vs plain appends: client → node over loopback gRPC (memory adapter, 1 KiB)', [
    { name: 'plain, 1 in flight', inFlight: 1, run: wire(plain, vchannels.plain, SINGLE, 1) },
    { name: 'idempotent, 1 in flight', inFlight: 1, run: wire(idem, vchannels.idem, SINGLE, 1) },
    { name: 'plain, 256 in flight', inFlight: 256, run: wire(plain, vchannels.plain, MESSAGES, 256) },
    { name: 'idempotent, 256 in flight', inFlight: 256, run: wire(idem, vchannels.idem, MESSAGES, 256) },
  ]);
  const stats = node.idempotence();
  console.log(
    `\nnode: ${stats.rebuilds} window(s) read from the log, ${stats.duplicates} repeat(s) answered`,
  );

  await plain.close();
  await idem.close();
  await server.close({ graceMs: 0 });
  await coordinator.close();
  rpc.close();
  await node.close();
  session.leave();
}

await main();
await inProcess();
