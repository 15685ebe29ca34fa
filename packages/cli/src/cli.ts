import { hasCode, WalError } from '@walstream/core';
import { parseUpArgs, UP_USAGE, type UpOptions } from './args.js';
import { runDemo } from './demo.js';
import { type EmbeddedService, startEmbedded } from './embedded.js';
import { formatMs } from './latency.js';

/** Where the CLI writes, and what stops a long-running command (Ctrl-C in the executable). */
export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly stop?: AbortSignal;
}

export const USAGE = `Usage: walstream <command> [options]

Commands:
  up        start walstream in embedded mode (add --demo for a live demo)
  help      this text

Run "walstream up --help" for the options of up.`;

/** Exit codes: 0 done, 1 the command ran and failed (e.g. the demo's check), 2 bad usage. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      case 'up': {
        const options = parseUpArgs(rest);
        if (options === 'help') {
          io.out(UP_USAGE);
          return 0;
        }
        return await up(options, io);
      }
      default:
        throw new WalError('INVALID_ARGUMENT', `unknown command "${command}"`, { retriable: false });
    }
  } catch (error) {
    if (hasCode(error, 'INVALID_ARGUMENT')) {
      io.err(`walstream${command === 'up' ? ' up' : ''}: ${(error as Error).message}\n`);
      io.err(command === 'up' ? UP_USAGE : USAGE);
      return 2;
    }
    io.err(`walstream: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function up(options: UpOptions, io: CliIo): Promise<number> {
  const { store } = options;
  const service = await startEmbedded({
    pchannels: options.pchannels,
    ...(store.kind === 'local' ? { dataDir: store.directory } : {}),
  });
  io.out(banner(options, service));
  let code = 0;
  try {
    if (options.demo) {
      code = await demo(service.wals, options, io);
    } else {
      io.out(
        options.forMs === undefined
          ? '  up; Ctrl-C stops it (nothing serves the network yet: use the library API, or --demo)'
          : `  up for ${options.forMs} ms`,
      );
      await stayUp(options.forMs, io.stop);
    }
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

function stayUp(forMs: number | undefined, stop: AbortSignal | undefined): Promise<void> {
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
