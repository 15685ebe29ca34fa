import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type ErrorCode, pchannel, unmarshalMessageId, WalError } from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import type { FreezableWriter, FrozenWriterOutcome, WriterFreezer } from './freezer.js';
import { dataMessage } from './messages.js';

export interface ProcessWriterFreezerOptions {
  /**
   * The writer's script: a module that calls {@link runFrozenWriter} with your builder. It is run with
   * `execArgv`, then `args`, then four arguments of the suite's (pchannel, term, acknowledgements before
   * it stops, appends in flight).
   */
  readonly script: string;
  /** Your own arguments (broker addresses, a directory), before the suite's four. */
  readonly args?: readonly string[];
  /** Node options for the child, e.g. `['--import', 'tsx']` to run a TypeScript script. Default none. */
  readonly execArgv?: readonly string[];
  /** Added to the child's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * How long the writer stays stopped, at least, counted from the moment it stopped: set it past your
   * adapter's timeouts (operation, session, transaction) to have them run out while it is stopped.
   * Default 0: it resumes as soon as the newer term wrote.
   */
  readonly stoppedMs?: number;
}

/**
 * A {@link WriterFreezer} that runs the writer in a child process, which stops itself with SIGSTOP after
 * the acknowledgements the case asks for and is resumed with SIGCONT: the adapter's timers, connections
 * and sockets stop with it, as in a real process pause (Linux and other POSIX systems).
 */
export function processWriterFreezer(options: ProcessWriterFreezerOptions): WriterFreezer {
  return {
    description: `SIGSTOP of a child process running ${options.script}`,
    async start(t, { name, term, freezeAfterAcks, inFlight }) {
      const child = spawn(
        process.execPath,
        [
          ...(options.execArgv ?? []),
          options.script,
          ...(options.args ?? []),
          name,
          String(term),
          String(freezeAfterAcks),
          String(inFlight),
        ],
        { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      t.defer(() => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          child.kill('SIGCONT');
        }
      });
      const outcomes: FrozenWriterOutcome[] = [];
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
      });
      let resumed = false;
      let stoppedAt = 0;
      let onReady!: () => void;
      let onFrozen!: () => void;
      const ready = new Promise<void>((resolve) => {
        onReady = resolve;
      });
      const frozenLine = new Promise<void>((resolve) => {
        onFrozen = resolve;
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const [kind, seqText, a, b, c] = line.split(' ');
        const seq = Number(seqText);
        if (kind === 'ready') onReady();
        else if (kind === 'frozen') onFrozen();
        else if (kind === 'ok')
          outcomes.push({ seq, resumed, ok: true, id: unmarshalMessageId(t.walName, a!) });
        else if (kind === 'err') {
          const written =
            c === 'false' ? false : c === 'true' ? true : c === 'unknown' ? 'unknown' : undefined;
          const error = new WalError(a as ErrorCode, `(in the writer process) ${a}`, {
            retriable: b === 'true',
            ...(written === undefined ? {} : { details: { written } }),
          });
          outcomes.push({ seq, resumed, ok: false, code: a!, retriable: b === 'true', written, error });
        }
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const failed = exited.then((code) => {
        throw new Error(`the writer process exited (${code}) early; its stderr:\n${stderr}`);
      });
      // Handled here: after the races below, the exit of a writer that finished normally rejects it too.
      failed.catch(() => undefined);
      await Promise.race([ready, failed]);
      const frozen = Promise.race([frozenLine, failed]).then(async () => {
        await untilStopped(child);
        stoppedAt = Date.now();
      });
      const writer: FreezableWriter = {
        frozen,
        async resume() {
          const left = stoppedAt + (options.stoppedMs ?? 0) - Date.now();
          // The point of `stoppedMs` is time passing while the writer is stopped; nothing is checked here.
          if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
          resumed = true;
          child.kill('SIGCONT');
        },
        finished: exited.then((code) => {
          if (code !== 0) throw new Error(`the writer process exited with ${code}; its stderr:\n${stderr}`);
          return outcomes;
        }),
      };
      return writer;
    },
  };
}

/** Resolves once the child is stopped (state T in /proc), polling every 5 ms; at once without /proc. */
async function untilStopped(child: ChildProcess): Promise<void> {
  const path = `/proc/${child.pid}/stat`;
  for (let attempt = 0; attempt < 2_000; attempt++) {
    let stat: string;
    try {
      stat = readFileSync(path, 'utf8');
    } catch {
      return;
    }
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`the writer process ${child.pid} did not stop`);
}

/**
 * The writer side of {@link processWriterFreezer}: call it from the script with your builder. Opens the
 * pchannel the suite named at its term, appends the suite's messages with the asked number in flight,
 * stops itself with SIGSTOP after the asked number of acknowledgements, goes on after SIGCONT until
 * every append loop met a rejection that is not retriable, prints each outcome on stdout, and exits.
 */
export async function runFrozenWriter(builder: WalImplsBuilder): Promise<never> {
  const [name, termText, acksText, inFlightText] = process.argv.slice(-4);
  const print = (line: string) => writeSync(1, `${line}\n`);
  const term = BigInt(termText!);
  const freezeAfter = Number(acksText);
  const opener = await builder.build();
  const wal = await opener.open({ channel: pchannel(name!, term) });
  print('ready');
  let acks = 0;
  let next = 0;
  const loop = async (): Promise<void> => {
    for (;;) {
      const seq = next++;
      try {
        const id = await wal.append(dataMessage(name!, term, seq));
        print(`ok ${seq} ${id.marshal()}`);
        if (++acks === freezeAfter) {
          print('frozen');
          process.kill(process.pid, 'SIGSTOP');
        }
      } catch (error) {
        const coded = WalError.is(error) ? error : undefined;
        print(
          `err ${seq} ${coded?.code ?? 'UNKNOWN'} ${coded?.retriable ?? false} ${String(coded?.details.written)}`,
        );
        if (!coded?.retriable) return;
      }
    }
  };
  await Promise.all(Array.from({ length: Number(inFlightText) }, loop));
  await wal.close().catch(() => undefined);
  await opener.close();
  print('done');
  process.exit(0);
}
