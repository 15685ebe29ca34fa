import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { WalError } from '@walstream/core';

/**
 * Exit codes of every command: 0 done, 1 the command ran and failed (a failed check, an unreachable
 * coordinator, a refused append), 2 bad usage (an unknown command or option, a bad option value, a bad
 * config file) — nothing was started.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Where a command reads and writes, and what stops a long-running one (Ctrl-C in the executable). */
export interface CliIo {
  /** The command's output (stdout): results, JSON lines. */
  readonly out: (line: string) => void;
  /** Diagnostics and summaries (stderr). */
  readonly err: (line: string) => void;
  readonly stop?: AbortSignal;
  /** Environment for `WALSTREAM_*` options; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Input of commands that read lines (`produce`); default `process.stdin`. */
  readonly stdin?: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;
  /**
   * Redraws a progress line in place (stderr of a terminal); absent when stderr is not a terminal, and then
   * commands print no progress lines.
   */
  readonly progress?: (line: string) => void;
  /**
   * How to run this `walstream` again — the executable and its arguments before the command — for
   * commands that start another (`up --demo` starts a consumer); absent when embedded.
   */
  readonly self?: readonly string[];
  /** Terminal width for tables (`status`); default 80. */
  readonly columns?: number;
}

/** Merged option values by their camelCase name (`--data-dir` → `dataDir`), already parsed. */
export type OptionValues = Readonly<Record<string, unknown>>;

/** Where an option's value came from; the first one found wins, in this order. */
export type OptionSource = 'cli' | 'env' | 'config' | 'default';

export interface OptionSpec {
  /** Commander flags: `--pchannels <n>`, `-n, --limit <n>`, or a switch such as `--memory`. */
  readonly flags: string;
  readonly description: string;
  /** The value when no flag, variable or config key gives one; shown in --help. */
  readonly default?: unknown;
  /** What --help shows as the default when it is not the value itself. */
  readonly defaultText?: string;
  /**
   * Turns the raw text (a flag argument, an env variable, a config value as text) into the value; throws
   * {@link usageError} naming `name` (the flag, variable or config key it came from). Switches need none.
   */
  readonly parse?: (raw: string, name: string) => unknown;
  /** No `WALSTREAM_*` variable and no config key (e.g. --help-only switches). */
  readonly cliOnly?: boolean;
}

export interface ArgumentSpec {
  /** `<node>` (required) or `[node]`. */
  readonly name: string;
  readonly description: string;
}

/** One `walstream` command: its options, how they become the command's own options, and what it does. */
export interface CommandSpec<O> {
  readonly name: string;
  /** One line for `walstream --help`. */
  readonly summary: string;
  /** The command's --help text above the options; default the summary. */
  readonly description?: string;
  readonly arguments?: readonly ArgumentSpec[];
  readonly options: readonly OptionSpec[];
  /** Text after the options in --help: examples, notes. */
  readonly helpAfter?: string;
  /** The command's options from the merged values; bad input throws {@link usageError} (exit 2). */
  resolve(values: OptionValues, args: readonly string[], io: CliIo): O;
  /** Runs the command; resolves to its exit code. A throw is reported and exits 1. */
  run(options: O, io: CliIo): Promise<number>;
}

/** A command with its option type sealed in, as the command table holds it. */
export interface Command {
  readonly spec: CommandSpec<unknown>;
  /** Resolves and runs: what the executable does once the command line has been parsed. */
  execute(values: OptionValues, args: readonly string[], io: CliIo): Promise<number>;
  /** Only resolves (for tests and embedding). */
  resolveOnly(values: OptionValues, args: readonly string[], io: CliIo): unknown;
}

export function defineCommand<O>(spec: CommandSpec<O>): Command {
  return {
    spec: spec as unknown as CommandSpec<unknown>,
    resolveOnly: (values, args, io) => spec.resolve(values, args, io),
    execute: async (values, args, io) => spec.run(spec.resolve(values, args, io), io),
  };
}

/** A bad-usage error: the command exits 2 and prints its message with a pointer to --help. */
export function usageError(message: string): WalError {
  return new WalError('INVALID_ARGUMENT', message, { retriable: false, details: { usage: true } });
}

export function isUsageError(error: unknown): boolean {
  return error instanceof WalError && (error.details as { usage?: unknown } | undefined)?.usage === true;
}

/** `--data-dir <dir>` → `dataDir`. */
export function optionKey(flags: string): string {
  const long = /--([a-z0-9-]+)/.exec(flags)?.[1];
  if (!long) throw new Error(`option flags need a long name: ${flags}`);
  return long.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `--data-dir <dir>` → `WALSTREAM_DATA_DIR`. */
export function envName(flags: string): string {
  return `WALSTREAM_${/--([a-z0-9-]+)/.exec(flags)![1]!.replaceAll('-', '_').toUpperCase()}`;
}

export function isSwitch(option: OptionSpec): boolean {
  return !/[<[]/.test(option.flags);
}

/** The config file: top-level keys apply to every command that has the option, a section per command wins. */
export interface ConfigFile {
  readonly path: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/** Reads a `--config` file; a missing or malformed one is bad usage. */
export function readConfig(path: string, knownKeys: ReadonlySet<string>, commands: ReadonlySet<string>) {
  const absolute = resolvePath(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw usageError(`--config ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usageError(`--config ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw usageError(`--config ${path}: must hold a JSON object`);
  }
  const check = (object: Record<string, unknown>, where: string) => {
    for (const key of Object.keys(object)) {
      // A command's name holds that command's options; `coord` is also an option: its value tells which.
      if (where === '' && commands.has(key) && isSection(object[key])) {
        check(object[key] as Record<string, unknown>, `${key}.`);
      } else if (where === '' && commands.has(key) && !knownKeys.has(key)) {
        throw usageError(`--config ${path}: "${key}" must be an object of that command's options`);
      } else if (!knownKeys.has(key)) {
        throw usageError(
          `--config ${path}: unknown key "${where}${key}" (keys are option names in camelCase, e.g. "dataDir", or a command's name holding its own)`,
        );
      }
    }
  };
  check(parsed as Record<string, unknown>, '');
  return { path, values: parsed as Record<string, unknown> } satisfies ConfigFile;
}

/**
 * Merges one command's option values: flags over `WALSTREAM_*` variables over the config file over
 * defaults, each parsed by its option's `parse`.
 */
export function mergeOptions(
  spec: CommandSpec<unknown>,
  cli: Readonly<Record<string, unknown>>,
  env: Readonly<Record<string, string | undefined>>,
  config: ConfigFile | undefined,
): { values: Record<string, unknown>; sources: Record<string, OptionSource> } {
  const values: Record<string, unknown> = {};
  const sources: Record<string, OptionSource> = {};
  const named = config?.values[spec.name];
  const section = isSection(named) ? (named as Record<string, unknown>) : undefined;
  for (const option of spec.options) {
    const key = optionKey(option.flags);
    const flag = `--${/--([a-z0-9-]+)/.exec(option.flags)![1]}`;
    const fromCli = cli[key];
    if (fromCli !== undefined) {
      values[key] = isSwitch(option) ? fromCli === true : parseWith(option, String(fromCli), flag);
      sources[key] = 'cli';
      continue;
    }
    const variable = envName(option.flags);
    const fromEnv = option.cliOnly ? undefined : env[variable];
    if (fromEnv !== undefined && fromEnv !== '') {
      values[key] = isSwitch(option) ? switchValue(fromEnv, variable) : parseWith(option, fromEnv, variable);
      sources[key] = 'env';
      continue;
    }
    const top = config?.values[key];
    const fromConfig = option.cliOnly ? undefined : (section?.[key] ?? (isSection(top) ? undefined : top));
    if (fromConfig !== undefined && config) {
      const name = `${config.path}: ${section?.[key] !== undefined ? `${spec.name}.` : ''}${key}`;
      if (isSwitch(option)) {
        if (typeof fromConfig !== 'boolean') throw usageError(`${name} must be true or false`);
        values[key] = fromConfig;
      } else {
        if (typeof fromConfig !== 'string' && typeof fromConfig !== 'number') {
          throw usageError(`${name} must be a string or a number, got ${JSON.stringify(fromConfig)}`);
        }
        values[key] = parseWith(option, String(fromConfig), name);
      }
      sources[key] = 'config';
      continue;
    }
    values[key] = isSwitch(option) ? (option.default ?? false) : option.default;
    sources[key] = 'default';
  }
  return { values, sources };
}

function isSection(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseWith(option: OptionSpec, raw: string, name: string): unknown {
  return option.parse ? option.parse(raw, name) : raw;
}

function switchValue(raw: string, name: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw usageError(`${name} must be 1/true/yes or 0/false/no, got "${raw}"`);
}

// Parsers shared by the commands.

export function integer(min: number, max: number): (raw: string, name: string) => number {
  return (raw, name) => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      throw usageError(`${name} must be an integer in ${min}..${max}, got "${raw}"`);
    }
    return value;
  };
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `500ms`, `10s`, `1.5m`, `2h`; at least 1 ms, at most a day. */
export function duration(name: string, raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(raw);
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : Number.NaN;
  if (!(ms >= 1 && ms <= 86_400_000)) {
    throw usageError(`${name} must be a duration such as 500ms, 10s or 2m (1 ms to 24 h), got "${raw}"`);
  }
  return Math.round(ms);
}

export const durationOption = (raw: string, name: string): number => duration(name, raw);

/** `host:port` (a coordinator or listen address). */
export function address(raw: string, name: string): string {
  const parts = raw.split(',').map((part) => part.trim());
  for (const part of parts) {
    const match = /^(.+):(\d+)$/.exec(part);
    if (!match || Number(match[2]) > 65_535) {
      throw usageError(`${name} must be host:port (e.g. 127.0.0.1:7700), got "${raw}"`);
    }
  }
  return parts.join(',');
}

export function nonEmpty(raw: string, name: string): string {
  if (raw === '') throw usageError(`${name} must not be empty`);
  return raw;
}
