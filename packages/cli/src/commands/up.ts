import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { vchannelName, type Wal } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import {
  address,
  type CliIo,
  defineCommand,
  durationOption,
  integer,
  nonEmpty,
  type OptionValues,
  usageError,
} from '../command.js';
import { runDemo } from '../demo.js';
import { formatMs } from '../latency.js';
import { type Service, startService } from '../service.js';

/** Where the service keeps its log. */
export type StoreChoice =
  /** The local durable store in `directory` (`defaulted`: no --data-dir was given). */
  | { readonly kind: 'local'; readonly directory: string; readonly defaulted: boolean }
  /** The memory store (--memory): nothing is kept after the process exits. */
  | { readonly kind: 'memory' };

/** What `walstream up` was asked to do. */
export interface UpOptions {
  /** Physical channels the service opens. */
  readonly pchannels: number;
  /** Drive demo traffic through every pchannel, check what the readers saw, then shut down. */
  readonly demo: boolean;
  /** How long the demo traffic runs, or (without `demo`) how long the service stays up; undefined = until a signal. */
  readonly forMs: number | undefined;
  /** Demo appends per second, over all pchannels. */
  readonly rate: number;
  /** Milliseconds between progress lines. */
  readonly progressMs: number;
  readonly store: StoreChoice;
  /** StreamingNodes serving the network (without `demo`). */
  readonly nodes: number;
  /** The coordinator's host:port. */
  readonly listen: string;
  readonly token: string | undefined;
}

export const DEFAULT_LISTEN = '127.0.0.1:7700';

export const DEFAULT_DEMO_MS = 5_000;

export const up = defineCommand<UpOptions>({
  name: 'up',
  summary:
    'run the walstream service in this process: a coordinator and nodes on loopback gRPC (--demo: a live demo)',
  description: `Runs walstream in one process: a coordinator served on --listen and --nodes StreamingNodes on loopback
gRPC, on the local durable log store with the full semantics chain (timetick, txn, lock, shard, redo,
write-ahead buffer, recovery). A restart on the same data directory continues the same log. Ctrl-C
drains: the appends in flight are answered, every WAL closes.

With --demo it drives paced demo traffic through every pchannel (on the nodes' WALs, in this process),
checks what the readers saw — and what \`walstream consume\` in another process got over gRPC — then exits.`,
  options: [
    {
      flags: '--data-dir <dir>',
      description: 'where the log and the catalog live; one process at a time',
      defaultText: '$XDG_DATA_HOME/walstream, else ~/.local/share/walstream',
    },
    { flags: '--memory', description: 'keep the log in memory instead: nothing is kept after exit' },
    {
      flags: '--demo',
      description:
        'drive demo traffic (appends and txns on every pchannel, tailing readers), print progress, check that readers saw exactly what was acknowledged, exit',
    },
    {
      flags: '--for <duration>',
      description: 'demo length, or how long to stay up without --demo (e.g. 500ms, 10s, 2m)',
      defaultText: '5s with --demo, else until Ctrl-C',
      parse: durationOption,
    },
    {
      flags: '--pchannels <n>',
      description: 'physical channels to open, 1..64',
      default: 2,
      parse: integer(1, 64),
    },
    {
      flags: '--nodes <n>',
      description: 'StreamingNodes in this process, 1..16',
      default: 1,
      parse: integer(1, 16),
    },
    {
      flags: '--listen <host:port>',
      description: "the coordinator's address (port 0 picks a free one)",
      defaultText: `${DEFAULT_LISTEN}; a free port with --demo`,
      parse: address,
    },
    { flags: '--token <token>', description: 'a bearer token every call must carry', parse: nonEmpty },
    {
      flags: '--rate <msg/s>',
      description: 'demo appends per second over all pchannels, 1..200000',
      default: 2_000,
      parse: integer(1, 200_000),
    },
    {
      flags: '--progress <duration>',
      description: 'time between progress lines',
      default: 1_000,
      defaultText: '1s',
      parse: durationOption,
    },
  ],
  resolve: resolveUp,
  run: runUp,
});

function resolveUp(values: OptionValues, _args: readonly string[], io: CliIo): UpOptions {
  const dataDir = values.dataDir as string | undefined;
  if (values.memory && dataDir !== undefined) {
    throw usageError('--memory and --data-dir exclude each other: the memory store keeps no files');
  }
  if (dataDir === '') throw usageError('--data-dir must name a directory, got ""');
  const demo = values.demo as boolean;
  return {
    demo,
    pchannels: values.pchannels as number,
    rate: values.rate as number,
    forMs: (values.for as number | undefined) ?? (demo ? DEFAULT_DEMO_MS : undefined),
    progressMs: values.progress as number,
    nodes: values.nodes as number,
    // The demo takes a free port: it must not fail because a service already listens on the default.
    listen: (values.listen as string | undefined) ?? (demo ? '127.0.0.1:0' : DEFAULT_LISTEN),
    token: values.token as string | undefined,
    store: values.memory
      ? { kind: 'memory' }
      : dataDir !== undefined
        ? { kind: 'local', directory: resolve(dataDir), defaulted: false }
        : { kind: 'local', directory: defaultDataDir(io.env ?? process.env), defaulted: true },
  };
}

/**
 * The default data directory: `$XDG_DATA_HOME/walstream` when that is an absolute path, else
 * `~/.local/share/walstream` (on Windows `%LOCALAPPDATA%\walstream`).
 */
export function defaultDataDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
  home: string = homedir(),
  platform: NodeJS.Platform = process.platform,
): string {
  const xdg = env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'walstream');
  if (platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'walstream');
  return join(home, '.local', 'share', 'walstream');
}

async function runUp(options: UpOptions, io: CliIo): Promise<number> {
  return options.demo ? runDemoService(options, io) : serve(options, io);
}

/** The service on the network until Ctrl-C (or --for), then a graceful drain. */
async function serve(options: UpOptions, io: CliIo): Promise<number> {
  const { store } = options;
  const service = await startService({
    pchannels: options.pchannels,
    nodes: options.nodes,
    listen: options.listen,
    ...(store.kind === 'local' ? { dataDir: store.directory } : {}),
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  const layout = service.coordinator.channels;
  io.out(
    [
      `walstream up: a coordinator and ${options.nodes} node(s) on the ${store.kind === 'local' ? 'local store (durability fsync)' : 'memory store (--memory: nothing is kept after exit)'}`,
      ...(store.kind === 'local'
        ? [
            `  data: ${store.directory}${store.defaulted ? ' (the default; --data-dir DIR for another, --memory to keep nothing)' : ''}`,
          ]
        : []),
      `  nodes: ${service.nodes.map((node) => `${node.nodeId} at ${node.address}`).join(', ')}`,
      // Every pchannel the catalog holds: a data directory used by `up --demo` before adds its embedded-N.
      `  pchannels: ${layout.snapshot.metas
        .map((meta) => `${meta.channel.name} on node ${meta.nodeId} at term ${meta.channel.term}`)
        .join(', ')}`,
      `coordinator: ${service.address}${options.token === undefined ? '' : ' (token required)'}`,
      `ready in ${Math.round(service.readyMs)} ms (${Math.round(performance.now())} ms since the process started)`,
      options.forMs === undefined ? 'Ctrl-C stops it' : `up for ${options.forMs} ms`,
    ].join('\n'),
  );
  try {
    await stayUp(options.forMs, io.stop);
  } finally {
    io.out('shutting down: answering the appends in flight, closing every WAL ...');
    const closing = performance.now();
    await service.close();
    io.out(`closed in ${Math.round(performance.now() - closing)} ms`);
  }
  return 0;
}

/**
 * The demo: the service as without --demo, with demo traffic driven on its nodes' WALs in this process
 * and checked, and — when this is the walstream executable — `walstream consume` of the first vchannel in
 * a process of its own, over gRPC, which must receive what the in-process reader delivered.
 */
async function runDemoService(options: UpOptions, io: CliIo): Promise<number> {
  const { store } = options;
  const service = await startService({
    pchannels: options.pchannels,
    nodes: options.nodes,
    listen: options.listen,
    namePrefix: 'embedded',
    ...(store.kind === 'local' ? { dataDir: store.directory } : {}),
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  let code = 0;
  const wals: Wal[] = [];
  let consumer: DemoConsumer | undefined;
  try {
    wals.push(...(await Promise.all(service.pchannels.map((name) => service.wal(name)))));
    io.out(await demoBanner(options, service, wals));
    const tag = Date.now().toString(36);
    if (io.self) {
      // Created before the consumer starts, so that it reads from the vchannel's beginning.
      const vchannel = vchannelName(wals[0]!.channel.name, `demo${tag}`);
      await wals[0]!.append(createVChannel(vchannel));
      consumer = startDemoConsumer(io.self, service.address, vchannel, options.token);
      io.out(`consumer: walstream consume --vchannel ${vchannel} in process ${consumer.pid}, over gRPC`);
    }
    code = await demo(wals, options, io, tag, consumer);
  } finally {
    consumer?.stop();
    io.out('shutting down: draining appends, closing every WAL ...');
    await service.close();
    io.out(`closed: ${wals.map((wal) => `${wal.channel.name} ${wal.state}`).join(', ')}`);
  }
  return code;
}

interface DemoConsumer {
  readonly pid: number | undefined;
  /** Resolves once the consumer printed `count` messages (true), or after `timeoutMs` (false). */
  received(count: number, timeoutMs: number): Promise<boolean>;
  readonly count: number;
  readonly stderr: string;
  stop(): void;
}

function startDemoConsumer(
  self: readonly string[],
  coord: string,
  vchannel: string,
  token: string | undefined,
): DemoConsumer {
  const [command, ...args] = self;
  const child = spawn(
    command!,
    [
      ...args,
      'consume',
      '--coord',
      coord,
      '--vchannel',
      vchannel,
      ...(token === undefined ? [] : ['--token', token]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let count = 0;
  let stderr = '';
  let waiting: { count: number; resolve: (ok: boolean) => void } | undefined;
  createInterface({ input: child.stdout }).on('line', () => {
    count++;
    if (waiting && count >= waiting.count) waiting.resolve(true);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    pid: child.pid,
    get count() {
      return count;
    },
    get stderr() {
      return stderr;
    },
    received: (expected, timeoutMs) =>
      new Promise<boolean>((resolve) => {
        if (count >= expected) return resolve(true);
        const bound = setTimeout(() => resolve(false), timeoutMs);
        waiting = {
          count: expected,
          resolve: (ok) => {
            clearTimeout(bound);
            resolve(ok);
          },
        };
      }),
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

async function demo(
  wals: readonly Wal[],
  options: UpOptions,
  io: CliIo,
  tag: string,
  consumer: DemoConsumer | undefined,
): Promise<number> {
  io.out(
    `demo: ${options.rate.toLocaleString('en-US')} appends/s for ${options.forMs} ms — plain appends, txns (every 4th rolled back), one tailing reader per vchannel\n`,
  );
  const report = await runDemo(wals, {
    durationMs: options.forMs!,
    rate: options.rate,
    progressMs: options.progressMs,
    out: io.out,
    signal: io.stop,
    vchannelTag: tag,
  });
  io.out(
    `\nappended ${report.appended.toLocaleString('en-US')} messages and committed ${report.txnsCommitted} txns ` +
      `(${report.txnsRolledBack} rolled back, ${report.failedAppends} failed); readers delivered ${report.delivered.toLocaleString('en-US')}\n` +
      `append latency p50 ${formatMs(report.appendLatency?.p50)} p99 ${formatMs(report.appendLatency?.p99)}; ` +
      `append → visible to a tailing reader p50 ${formatMs(report.visibleLatency?.p50)} p99 ${formatMs(report.visibleLatency?.p99)}`,
  );
  const problems = [...report.problems];
  if (consumer) {
    const first = report.vchannels[0]!;
    // Exactly as many: the reader in this process saw each acknowledged message once (checked above).
    if ((await consumer.received(first.delivered, 10_000)) && consumer.count === first.delivered) {
      io.out(
        `consumer process: received all ${first.delivered.toLocaleString('en-US')} messages of ${first.name} over gRPC, as the in-process reader did`,
      );
    } else {
      problems.push(
        `the consumer process received ${consumer.count} messages of ${first.name}, the in-process reader ${first.delivered}${consumer.stderr ? `; it said: ${consumer.stderr.trim()}` : ''}`,
      );
    }
  }
  if (problems.length > 0) {
    io.err(`check FAILED:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    return 1;
  }
  io.out(
    'check passed: every acknowledged message was delivered exactly once, in timetick order; no rolled-back txn body was seen',
  );
  return 0;
}

async function demoBanner(options: UpOptions, service: Service, wals: readonly Wal[]): Promise<string> {
  const { store } = options;
  const count = `${options.pchannels} pchannel(s)`;
  const lines =
    store.kind === 'local'
      ? [
          `walstream up: embedded mode, ${count} on the local store (durability fsync), a coordinator and ${options.nodes} node(s) in this process`,
          `  data: ${store.directory}${store.defaulted ? ' (the default; --data-dir DIR for another, --memory to keep nothing)' : ''}`,
          '  stack: redo → lock → timetick (txn, write-ahead buffer) → shard, recovery through the catalog in the data directory',
        ]
      : [
          `walstream up: embedded mode, ${count} on the memory store (--memory: nothing is kept after exit), a coordinator and ${options.nodes} node(s) in this process`,
          '  stack: redo → lock → timetick (txn, write-ahead buffer) → shard, recovery through an in-process catalog',
        ];
  const channels = await Promise.all(
    wals.map(async (wal) => {
      const { name, term } = wal.channel;
      const stats = await service.stats(name);
      if (!stats) return `${name} at term ${term}`;
      const { records, segments, cut } = stats.recovery;
      const found =
        records === 0 && term === 1n
          ? 'a new log'
          : `continues a log of ${records.toLocaleString('en-US')} records in ${segments} segment(s)` +
            (cut?.bytes ? `, a torn tail of ${cut.bytes} bytes cut` : '');
      return `${name} at term ${term} (${found})`;
    }),
  );
  return [...lines, `  pchannels: ${channels.join(', ')}`, `coordinator: ${service.address}`].join('\n');
}

/** Resolves after `forMs`, or when `stop` fires. */
export function stayUp(forMs: number | undefined, stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (stop?.aborted) return resolve();
    // Held even without a deadline: the WAL's own timers are unref'd and would let the process exit.
    const timer = setTimeout(done, forMs ?? 2 ** 31 - 1);
    stop?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      stop?.removeEventListener('abort', done);
      resolve();
    }
  });
}
