#!/usr/bin/env node
import { setMaxListeners } from 'node:events';
import { runCli } from './cli.js';

// Every append in flight listens on the client's close signal: `bench --concurrency 10000` holds that many.
setMaxListeners(20_000);

// The first Ctrl-C stops gracefully (appends drain, WALs close); another one a moment later exits at
// once. Signals within that moment count as one: a launcher such as tsx relays the terminal's SIGINT,
// so the same Ctrl-C can arrive twice.
const stop = new AbortController();
let firstSignalAt: number | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    const now = Date.now();
    if (firstSignalAt !== undefined && now - firstSignalAt > 500) process.exit(130);
    firstSignalAt ??= now;
    stop.abort();
  });
}

// A progress line is redrawn in place on a terminal's stderr; the next stderr line replaces it.
let progressShown = false;
const clearProgress = (): void => {
  if (progressShown) process.stderr.write('\r\x1b[2K');
  progressShown = false;
};

// A reader that went away (`walstream consume ... | head`) stops the command as Ctrl-C does, quietly.
let stdoutGone = false;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stdoutGone = true;
  stop.abort();
});

runCli(process.argv.slice(2), {
  // The command's own output, not logging: it goes straight to the terminal.
  out: (line) => {
    if (!stdoutGone) process.stdout.write(`${line}\n`);
  },
  err: (line) => {
    clearProgress();
    process.stderr.write(`${line}\n`);
  },
  stop: stop.signal,
  env: process.env,
  stdin: process.stdin,
  ...(process.stderr.isTTY
    ? {
        progress: (line: string) => {
          process.stderr.write(`\r\x1b[2K${line.slice(0, Math.max(20, (process.stderr.columns ?? 80) - 1))}`);
          progressShown = true;
        },
      }
    : {}),
  columns: process.stdout.columns ?? 80,
  self: [process.execPath, ...process.execArgv, process.argv[1]!],
}).then(
  (code) => {
    // Exit explicitly, so that a stray timer cannot hold the process open after a clean shutdown.
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
