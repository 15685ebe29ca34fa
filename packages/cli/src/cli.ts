import { readFileSync } from 'node:fs';
import { WalError } from '@walstream/core';
import { Command as Commander, CommanderError } from 'commander';
import {
  type CliIo,
  type Command,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  envName,
  isSwitch,
  isUsageError,
  mergeOptions,
  type OptionValues,
  optionKey,
  readConfig,
  usageError,
} from './command.js';
import { COMMANDS } from './commands/index.js';

export type { CliIo } from './command.js';

const VERSION: string = (() => {
  try {
    return (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
})();

const CONFIG_HELP = `Options come from flags, then WALSTREAM_* environment variables (--data-dir is WALSTREAM_DATA_DIR),
then the config file (--config FILE or WALSTREAM_CONFIG: a JSON object of option names in camelCase,
with a section per command, e.g. {"coord": "127.0.0.1:7700", "up": {"nodes": 3}}), then defaults.
Exit codes: 0 done, 1 the command failed, 2 bad usage (nothing was started).`;

/** Builds the command line: `walstream <command> [options]`, one command per file in commands/. */
function program(io: CliIo, commands: readonly Command[], chosen: (picked: Picked) => void) {
  const root = new Commander('walstream')
    .description('walstream: write-ahead-log streaming — run the service, produce, consume, inspect')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
    })
    .showHelpAfterError('(walstream --help lists the commands; walstream <command> --help its options)')
    .addHelpText('after', `\n${CONFIG_HELP}`);
  const env = io.env ?? process.env;
  const optionKeys = new Set(commands.flatMap((c) => c.spec.options.map((o) => optionKey(o.flags))));
  const names = new Set(commands.map((c) => c.spec.name));
  for (const command of commands) {
    const { spec } = command;
    const sub = root
      .command(spec.name)
      .summary(spec.summary)
      .description(spec.description ?? spec.summary)
      .helpOption('-h, --help', 'print this help')
      .showHelpAfterError(`(walstream ${spec.name} --help for its options)`);
    for (const argument of spec.arguments ?? []) sub.argument(argument.name, argument.description);
    for (const option of spec.options) {
      const shown = option.defaultText ?? (option.default === undefined ? undefined : String(option.default));
      const extra = [
        ...(shown === undefined || isSwitch(option) ? [] : [`default: ${shown}`]),
        ...(option.cliOnly ? [] : [`env ${envName(option.flags)}`]),
      ];
      sub.option(option.flags, `${option.description}${extra.length ? ` (${extra.join('; ')})` : ''}`);
    }
    sub.option('--config <file>', 'read options from this JSON file (env WALSTREAM_CONFIG)');
    if (spec.helpAfter) sub.addHelpText('after', `\n${spec.helpAfter}`);
    sub.action((...params: unknown[]) => {
      const cmd = params.at(-1) as Commander;
      const args = cmd.args.slice(0, spec.arguments?.length ?? 0);
      const cli = cmd.opts();
      chosen({
        command,
        args,
        values: () => {
          const configPath = (cli.config as string | undefined) ?? env.WALSTREAM_CONFIG;
          const config = configPath === undefined ? undefined : readConfig(configPath, optionKeys, names);
          return mergeOptions(spec, cli, env, config).values;
        },
      });
    });
  }
  return root;
}

/** The command the line names, its arguments, and its option values (merged on demand: it may throw). */
interface Picked {
  readonly command: Command;
  readonly args: readonly string[];
  readonly values: () => OptionValues;
}

/**
 * Runs `walstream` with these arguments (without the executable's own), writing to `io`. Resolves to the
 * exit code: 0 done, 1 the command failed, 2 bad usage.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let picked: Picked | undefined;
  const root = program(io, COMMANDS, (chosen) => {
    picked = chosen;
  });
  if (argv.length === 0) {
    io.err(root.helpInformation().replace(/\n$/, ''));
    return EXIT_USAGE;
  }
  try {
    await root.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end the parse with exit code 0; everything else commander refuses is bad usage.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    throw error;
  }
  if (!picked) return EXIT_OK;
  const { command, args, values } = picked;
  const name = command.spec.name;
  try {
    return await command.execute(values(), args, io);
  } catch (error) {
    if (isUsageError(error)) {
      io.err(`walstream ${name}: ${(error as Error).message}`);
      io.err(`(walstream ${name} --help for its options)`);
      return EXIT_USAGE;
    }
    io.err(`walstream ${name}: ${describe(error)}`);
    return EXIT_FAILED;
  }
}

/**
 * What `walstream <argv>` would run, without running it: the command's resolved options, or 'help' when
 * the line asks for help. Bad usage throws INVALID_ARGUMENT.
 */
export async function resolveCommandLine(argv: readonly string[], io: CliIo): Promise<unknown> {
  let picked: Picked | undefined;
  const errors: string[] = [];
  const root = program({ ...io, out: () => {}, err: (line) => errors.push(line) }, COMMANDS, (chosen) => {
    picked = chosen;
  });
  try {
    await root.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return 'help';
    throw usageError(
      errors
        .join('\n')
        .split('\n')[0]!
        .replace(/^error: /, ''),
    );
  }
  if (!picked) return 'help';
  return picked.command.resolveOnly(picked.values(), picked.args, io);
}

/** What a failure says: the message and, for a WalError, its code. */
export function describe(error: unknown): string {
  if (error instanceof WalError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

/** The command list as `walstream --help` prints it. */
export function usage(): string {
  let text = '';
  program({ out: (line) => (text = line), err: () => {} }, COMMANDS, () => {}).outputHelp();
  return text;
}
