import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WalError } from '@walstream/core';

/** Where the embedded service keeps its log. */
export type StoreChoice =
  /** The local durable store in `directory` (`defaulted`: no --data-dir was given). */
  | { readonly kind: 'local'; readonly directory: string; readonly defaulted: boolean }
  /** The memory store (--memory): nothing is kept after the process exits. */
  | { readonly kind: 'memory' };

/** What `walstream up` was asked to do. */
export interface UpOptions {
  /** Physical channels the embedded service opens. */
  readonly pchannels: number;
  /** Drive demo traffic through every pchannel, check what the readers saw, then shut down. */
  readonly demo: boolean;
  /** How long the demo traffic runs, or (without `demo`) how long the service stays up; undefined = until a signal. */
  readonly forMs: number | undefined;
  /** Demo appends per second, over all pchannels. */
  readonly rate: number;
  /** Seconds between progress lines. */
  readonly progressMs: number;
  readonly store: StoreChoice;
}

export const DEFAULT_DEMO_MS = 5_000;

export const UP_USAGE = `Usage: walstream up [options]

Starts walstream in embedded mode: the local durable log store with the full semantics chain
(timetick, txn, lock, shard, redo, write-ahead buffer, recovery), in this process. A restart on the
same data directory continues the same log.

Options:
  --data-dir <dir>     where the log and the catalog live (default: $XDG_DATA_HOME/walstream,
                       else ~/.local/share/walstream); one process at a time
  --memory             keep the log in memory instead: nothing is kept after exit
  --demo               drive demo traffic (appends and txns on every pchannel, tailing readers),
                       print progress, check that readers saw exactly what was acknowledged, exit
  --for <duration>     demo length (default 5s), or how long to stay up without --demo
                       (e.g. 500ms, 10s, 2m; default: until Ctrl-C)
  --pchannels <n>      physical channels to open, 1..64 (default 2)
  --rate <msg/s>       demo appends per second over all pchannels, 1..200000 (default 2000)
  --progress <dur>     time between progress lines (default 1s)
  -h, --help           this text`;

/** Parses `walstream up` arguments; a bad one is an INVALID_ARGUMENT error that names it. */
export function parseUpArgs(argv: readonly string[]): UpOptions | 'help' {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new WalError('INVALID_ARGUMENT', `${(error as Error).message}`, {
      retriable: false,
    });
  }
  const { values } = parsed;
  if (values.help) return 'help';
  if (values.memory && values['data-dir'] !== undefined) {
    throw new WalError(
      'INVALID_ARGUMENT',
      '--memory and --data-dir exclude each other: the memory store keeps no files',
      {
        retriable: false,
      },
    );
  }
  if (values['data-dir'] === '') {
    throw new WalError('INVALID_ARGUMENT', '--data-dir must name a directory, got ""', { retriable: false });
  }
  return {
    demo: values.demo ?? false,
    pchannels: integer('--pchannels', values.pchannels, 2, 1, 64),
    rate: integer('--rate', values.rate, 2_000, 1, 200_000),
    forMs:
      values.for !== undefined ? duration('--for', values.for) : values.demo ? DEFAULT_DEMO_MS : undefined,
    progressMs: values.progress !== undefined ? duration('--progress', values.progress) : 1_000,
    store: values.memory
      ? { kind: 'memory' }
      : values['data-dir'] !== undefined
        ? { kind: 'local', directory: resolve(values['data-dir']), defaulted: false }
        : { kind: 'local', directory: defaultDataDir(), defaulted: true },
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

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      demo: { type: 'boolean' },
      for: { type: 'string' },
      pchannels: { type: 'string' },
      rate: { type: 'string' },
      progress: { type: 'string' },
      'data-dir': { type: 'string' },
      memory: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new WalError('INVALID_ARGUMENT', `${name} must be an integer in ${min}..${max}, got "${raw}"`, {
      retriable: false,
    });
  }
  return value;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `500ms`, `10s`, `1.5m`, `2h`; at least 1 ms, at most a day. */
export function duration(name: string, raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(raw);
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : Number.NaN;
  if (!(ms >= 1 && ms <= 86_400_000)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${name} must be a duration such as 500ms, 10s or 2m (1 ms to 24 h), got "${raw}"`,
      { retriable: false },
    );
  }
  return Math.round(ms);
}
