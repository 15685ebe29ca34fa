/**
 * `pnpm bench:cli`: `walstream bench` over loopback gRPC against the in-process figure of the same stack,
 * in one table. Asserts nothing.
 *
 * The stack: the local durable store (fdatasync per append) behind `walSemantics()`, 2 pchannels.
 * - in process: `startEmbedded` in this process, the bench's load (`runLoad`) on its WALs directly;
 * - loopback: `walstream up` (a coordinator and one StreamingNode) in a child process on its own data
 *   directory, and `walstream bench --json` run in this process (the command itself, through `runCli`):
 *   the client's appends and reads over gRPC.
 * Both: 4 vchannels, 256 appends in flight, 1 KiB bodies, a tailing reader per vchannel, BENCH_SECONDS
 * (default 3) of appends per round.
 *
 * One warm-up round of each, then BENCH_ROUNDS (default 3) rounds alternating the two (interleaved); each
 * side keeps its median round; spread = (max - min) / median / 2 of its rounds' rates. Goal: loopback ≥ 60 %
 * of in process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy, type ImmutableMessage, pchannelOfVChannel, vchannelName } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { runCli, startEmbedded } from '../../packages/cli/src/index.ts';
import { type LoadTarget, runLoad } from '../../packages/cli/src/load.ts';

// Every append in flight listens on the client's close signal.
setMaxListeners(20_000);

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const VCHANNELS = 4;
const CONCURRENCY = 256;
const SIZE = 1024;
const repository = fileURLToPath(new URL('../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'walstream-bench-cli-'));

interface Round {
  readonly rate: number;
  readonly appendP50: number;
  readonly appendP99: number;
  readonly deliverP99: number;
}

async function inProcess(round: number): Promise<Round> {
  const service = await startEmbedded({ pchannels: 2, dataDir: join(scratch, `in-process-${round}`) });
  try {
    const byName = new Map(service.wals.map((wal) => [wal.channel.name, wal]));
    const vchannels = Array.from({ length: VCHANNELS }, (_, i) =>
      vchannelName(service.wals[i % service.wals.length]!.channel.name, `bench${round}`, i),
    );
    const walOf = (vchannel: string) => byName.get(pchannelOfVChannel(vchannel))!;
    for (const vchannel of vchannels) await walOf(vchannel).append(createVChannel(vchannel));
    const target: LoadTarget = {
      append: (message) => walOf(message.vchannel!).append(message),
      read: (vchannel, signal) => ({
        async *[Symbol.asyncIterator](): AsyncGenerator<ImmutableMessage> {
          const scanner = await walOf(vchannel).read({ vchannel, deliverPolicy: DeliverPolicy.latest() });
          signal.addEventListener('abort', () => void scanner.close(), { once: true });
          try {
            yield* scanner;
          } finally {
            await scanner.close();
          }
        },
      }),
    };
    const report = await runLoad(target, {
      vchannels,
      concurrency: CONCURRENCY,
      size: SIZE,
      durationMs: SECONDS * 1_000,
      consume: true,
    });
    return {
      rate: report.rate,
      appendP50: report.appendLatency.quantile(0.5)!,
      appendP99: report.appendLatency.quantile(0.99)!,
      deliverP99: report.deliverLatency.quantile(0.99) ?? Number.NaN,
    };
  } finally {
    await service.close();
  }
}

async function loopback(coord: string): Promise<Round> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    [
      'bench',
      '--coord',
      coord,
      '--json',
      '--vchannels',
      String(VCHANNELS),
      '--concurrency',
      String(CONCURRENCY),
      '--size',
      String(SIZE),
      '--duration',
      `${SECONDS}s`,
    ],
    { out: (line) => out.push(line), err: (line) => err.push(line), env: {} },
  );
  if (code !== 0) throw new Error(`walstream bench exited ${code}: ${err.join('\n')}`);
  const result = JSON.parse(out.at(-1)!) as {
    rate: number;
    appendLatencyMs: { p50: number; p99: number };
    deliverLatencyMs: { p99: number };
  };
  return {
    rate: result.rate,
    appendP50: result.appendLatencyMs.p50,
    appendP99: result.appendLatencyMs.p99,
    deliverP99: result.deliverLatencyMs.p99,
  };
}

async function startUp(): Promise<{ child: ChildProcess; coord: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'packages/cli/src/bin.ts',
      'up',
      '--data-dir',
      join(scratch, 'up'),
      '--listen',
      '127.0.0.1:0',
      '--nodes',
      '1',
      '--pchannels',
      '2',
    ],
    {
      cwd: repository,
      env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.tests.json' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const coord = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`walstream up exited ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^coordinator: (\S+)/.exec(line);
      if (match) resolve(match[1]!);
    });
  });
  return { child, coord };
}

const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spread = (values: readonly number[]) =>
  (Math.max(...values) - Math.min(...values)) / median(values) / 2;

const { child, coord } = await startUp();
try {
  await inProcess(0);
  await loopback(coord);
  const rounds = { inProcess: [] as Round[], loopback: [] as Round[] };
  for (let round = 1; round <= ROUNDS; round++) {
    rounds.inProcess.push(await inProcess(round));
    rounds.loopback.push(await loopback(coord));
    console.error(
      `round ${round}/${ROUNDS}: in process ${Math.round(rounds.inProcess.at(-1)!.rate)}/s, loopback ${Math.round(rounds.loopback.at(-1)!.rate)}/s`,
    );
  }
  const row = (name: string, list: Round[], base?: number) => {
    const rates = list.map((r) => r.rate);
    const pick = list.find((r) => r.rate === median(rates))!;
    const share = base === undefined ? '' : `${((median(rates) / base) * 100).toFixed(1)} %`;
    return `| ${name} | ${Math.round(median(rates)).toLocaleString('en-US')} | ±${(spread(rates) * 100).toFixed(1)} % | ${pick.appendP50.toFixed(1)} | ${pick.appendP99.toFixed(1)} | ${pick.deliverP99.toFixed(1)} | ${share} |`;
  };
  const base = median(rounds.inProcess.map((r) => r.rate));
  console.log(
    `\nlocal store (fdatasync), 2 pchannels, ${VCHANNELS} vchannels, ${CONCURRENCY} in flight, ${SIZE} B bodies, ${SECONDS} s × ${ROUNDS} rounds (median round)\n`,
  );
  console.log(
    '| stack | msg/s | spread | append p50 ms | append p99 ms | append→delivered p99 ms | of in process |',
  );
  console.log('|---|---|---|---|---|---|---|');
  console.log(row('in process (WAL API)', rounds.inProcess));
  console.log(row('walstream bench over loopback', rounds.loopback, base));
} finally {
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(scratch, { recursive: true, force: true });
}
