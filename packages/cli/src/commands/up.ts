import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
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
import { type EmbeddedService, startEmbedded } from '../embedded.js';
import { formatMs } from '../latency.js';
import { startService } from '../service.js';

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

With --demo it runs the demo in embedded mode instead (no network): paced traffic through every
pchannel, checked, then it exits.`,
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
      default: DEFAULT_LISTEN,
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
    listen: values.listen as string,
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
  return options.demo ? runEmbedded(options, io) : serve(options, io);
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

async function runEmbedded(options: UpOptions, io: CliIo): Promise<number> {
  const { store } = options;
  const service = await startEmbedded({
    pchannels: options.pchannels,
    ...(store.kind === 'local' ? { dataDir: store.directory } : {}),
  });
  io.out(banner(options, service));
  let code = 0;
  try {
    code = await demo(service.wals, options, io);
  } finally {
    io.out('shutting down: draining appends, closing every WAL ...');
    await service.close();
    io.out(`closed: ${service.wals.map((wal) => `${wal.channel.name} ${wal.state}`).join(', ')}`);
  }
  return code;
}

async function demo(wals: Parameters<typeof runDemo>[0], options: UpOptions, io: CliIo): Promise<number> {
  io.out(
    `demo: ${options.rate.toLocaleString('en-US')} appends/s for ${options.forMs} ms — plain appends, txns (every 4th rolled back), one tailing reader per vchannel\n`,
  );
  const report = await runDemo(wals, {
    durationMs: options.forMs!,
    rate: options.rate,
    progressMs: options.progressMs,
    out: io.out,
    signal: io.stop,
  });
  io.out(
    `\nappended ${report.appended.toLocaleString('en-US')} messages and committed ${report.txnsCommitted} txns ` +
      `(${report.txnsRolledBack} rolled back, ${report.failedAppends} failed); readers delivered ${report.delivered.toLocaleString('en-US')}\n` +
      `append latency p50 ${formatMs(report.appendLatency?.p50)} p99 ${formatMs(report.appendLatency?.p99)}; ` +
      `append → visible to a tailing reader p50 ${formatMs(report.visibleLatency?.p50)} p99 ${formatMs(report.visibleLatency?.p99)}`,
  );
  if (report.problems.length > 0) {
    io.err(`check FAILED:\n${report.problems.map((problem) => `  - ${problem}`).join('\n')}`);
    return 1;
  }
  io.out(
    'check passed: every acknowledged message was delivered exactly once, in timetick order; no rolled-back txn body was seen',
  );
  return 0;
}

function banner(options: UpOptions, service: EmbeddedService): string {
  const { store } = options;
  const count = `${options.pchannels} pchannel(s)`;
  const lines =
    store.kind === 'local'
      ? [
          `walstream up: embedded mode, ${count} on the local store (durability fsync)`,
          `  data: ${store.directory}${store.defaulted ? ' (the default; --data-dir DIR for another, --memory to keep nothing)' : ''}`,
          '  stack: redo → lock → timetick (txn, write-ahead buffer) → shard, recovery through the catalog in the data directory',
        ]
      : [
          `walstream up: embedded mode, ${count} on the memory store (--memory: nothing is kept after exit)`,
          '  stack: redo → lock → timetick (txn, write-ahead buffer) → shard, recovery through an in-process catalog',
        ];
  const channels = service.pchannels.map((pchannel) => {
    if (pchannel.records === undefined) return `${pchannel.name} at term ${pchannel.term}`;
    const found =
      pchannel.records === 0 && pchannel.term === 1n
        ? 'a new log'
        : `continues a log of ${pchannel.records.toLocaleString('en-US')} records in ${pchannel.segments} segment(s)` +
          (pchannel.cutBytes ? `, a torn tail of ${pchannel.cutBytes} bytes cut` : '');
    return `${pchannel.name} at term ${pchannel.term} (${found})`;
  });
  return [...lines, `  pchannels: ${channels.join(', ')}`].join('\n');
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
