import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy, type ImmutableMessage, MutableMessage, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, test } from 'vitest';
import { adapter, broker, brokerLog, uniqueName, waitFor } from './env.js';

/**
 * A writer in another process (fixtures/frozen-writer.ts) stopped with SIGSTOP with sends in flight, a
 * newer term opened and written meanwhile (the broker evicts the stopped producer), then SIGCONT: what
 * the old writer's callers were told must match what the log holds afterwards. The child runs with a
 * 1 s keep-alive and a 3 s operation timeout, so "past the timeouts" takes seconds.
 */
const KEEP_ALIVE_MS = 1_000;
const OPERATION_TIMEOUT_MS = 3_000;
const repository = fileURLToPath(new URL('../../../', import.meta.url));

const openers: WalImplsOpener[] = [];
const children: ChildProcessWithoutNullStreams[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  }
  await Promise.allSettled(openers.splice(0).map((opener) => opener.close()));
});

interface Outcome {
  readonly seq: string;
  readonly ok: boolean;
  readonly id?: string;
  readonly code?: string;
  readonly retriable?: boolean;
  readonly written?: string;
}

interface Writer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly outcomes: Outcome[];
  readonly lines: string[];
  stderr: string;
  exit: Promise<number | null>;
}

function startWriter(args: readonly string[]): Writer {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fixtures/frozen-writer.ts', import.meta.url)), ...args],
    { cwd: repository, env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.tests.json' }, stdio: 'pipe' },
  );
  children.push(child);
  const writer: Writer = { child, outcomes: [], lines: [], stderr: '', exit: Promise.resolve(null) };
  child.stderr.on('data', (chunk: Buffer) => {
    writer.stderr += chunk.toString();
  });
  writer.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    writer.lines.push(line);
    const [kind, seq, a, b, c] = line.split(' ');
    if (kind === 'ok') writer.outcomes.push({ seq: seq!, ok: true, id: a! });
    if (kind === 'err') {
      writer.outcomes.push({ seq: seq!, ok: false, code: a!, retriable: b === 'true', written: c! });
    }
  });
  return writer;
}

/** The process state letter from /proc (T: stopped). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).charAt(0);
}

async function readAll(opener: WalImplsOpener, name: string, untilSeq: string): Promise<ImmutableMessage[]> {
  const wal = await opener.open({ channel: pchannel(name, 2n, 'ro') });
  const scanner = await wal.read({ name: 'frozen-check', deliverPolicy: DeliverPolicy.all() });
  const seen: ImmutableMessage[] = [];
  for await (const delivered of scanner) {
    seen.push(delivered);
    if (delivered.properties.seq === untilSeq) break;
  }
  await wal.close();
  return seen;
}

interface Scenario {
  readonly label: string;
  /** How long the writer stays stopped before the newer term opens. */
  readonly stoppedBeforeTakeoverMs: number;
  /** How long it stays stopped in all, from the moment it stopped. */
  readonly stoppedAtLeastMs: number;
}

const SCENARIOS: readonly Scenario[] = [
  { label: 'with sends in flight', stoppedBeforeTakeoverMs: 0, stoppedAtLeastMs: 0 },
  {
    label: 'with sends in flight, past its keep-alive and operation timeout',
    stoppedBeforeTakeoverMs: 0,
    stoppedAtLeastMs: OPERATION_TIMEOUT_MS + 500,
  },
  {
    label: 'with sends in flight, past its timeouts before the newer term opens',
    stoppedBeforeTakeoverMs: OPERATION_TIMEOUT_MS + 500,
    stoppedAtLeastMs: OPERATION_TIMEOUT_MS + 500,
  },
];

const message = (seq: string) => new MutableMessage(Buffer.from(seq), { seq });

async function frozenWriterRun(mode: 'raw' | 'stack' | 'semantics', scenario: Scenario) {
  const name = uniqueName('frozen');
  const { serviceUrl, adminUrl } = broker();
  const writer = startWriter([
    serviceUrl,
    adminUrl,
    name,
    '200',
    mode,
    String(KEEP_ALIVE_MS),
    String(OPERATION_TIMEOUT_MS),
  ]);
  const pid = writer.child.pid!;
  try {
    await waitFor(() => writer.lines.includes('frozen') || writer.child.exitCode !== null, 'frozen', 40_000);
    await waitFor(() => processState(pid) === 'T', 'the writer to stop', 5_000);
  } catch (error) {
    throw new Error(`${String(error)}\nchild stderr:\n${writer.stderr}`);
  }
  const stoppedAt = Date.now();
  const acknowledgedBefore = writer.outcomes.filter((o) => o.ok).length;
  // The point of these cases is time passing while the writer is stopped: its keep-alive and operation
  // timeout run out meanwhile. Nothing is checked during the wait.
  const until = (ms: number) => waitFor(() => Date.now() - stoppedAt >= ms, `${ms} ms stopped`, ms + 1_000);
  await until(scenario.stoppedBeforeTakeoverMs);
  const opener = await adapter().build();
  openers.push(opener);
  const successor = await opener.open({ channel: pchannel(name, 2n) });
  for (let i = 0; i < 3; i++) await successor.append(message(`new-${i}`));
  await until(scenario.stoppedAtLeastMs);
  writer.child.kill('SIGCONT');
  let code: number | null;
  try {
    await waitFor(() => writer.child.exitCode !== null, 'the writer to finish', 45_000);
    code = await writer.exit;
  } catch (error) {
    throw new Error(`${String(error)}\nchild stderr:\n${writer.stderr}\n${await brokerLog()}`);
  }
  expect(code, writer.stderr).toBe(0);
  expect(writer.lines.at(-1)).toBe('done');
  await successor.append(message('end'));
  const log = await readAll(opener, name, 'end');
  await successor.close();

  const firstNew = log.findIndex((m) => m.properties.seq === 'new-0');
  expect(firstNew).toBeGreaterThanOrEqual(0);
  const oldAt = new Map<string, number[]>();
  for (const [i, m] of log.entries()) {
    // The stack's own messages (TimeTicks, the vchannel's creation) carry no seq.
    const seq = m.properties.seq;
    if (!seq?.startsWith('old-')) continue;
    oldAt.set(seq, [...(oldAt.get(seq) ?? []), i]);
    expect(i, `old append ${seq} after the new term's first message`).toBeLessThan(firstNew);
  }
  const failures = writer.outcomes.filter((o) => !o.ok);
  for (const outcome of writer.outcomes.filter((o) => o.ok)) {
    const at = oldAt.get(outcome.seq) ?? [];
    expect(at.length, `acknowledged ${outcome.seq} in the log`).toBe(1);
    expect(log[at[0]!]!.id.marshal()).toBe(outcome.id);
  }
  // Once the broker fenced the writer, every failure says CHANNEL_FENCED (not retriable), written=false
  // or 'unknown'; what it reports not written is absent from the log.
  for (const failure of failures) {
    expect({ seq: failure.seq, code: failure.code, retriable: failure.retriable }).toEqual({
      seq: failure.seq,
      code: 'CHANNEL_FENCED',
      retriable: false,
    });
    expect(['false', 'unknown']).toContain(failure.written);
    if (failure.written === 'false') {
      expect(oldAt.has(failure.seq), `${failure.seq} was reported not written yet is in the log`).toBe(false);
    }
  }
  expect(acknowledgedBefore).toBeGreaterThanOrEqual(200);
  expect(failures.length).toBeGreaterThan(0);
}

describe('pulsar frozen writer', () => {
  test.each(SCENARIOS)('raw adapter, stopped $label: callers are told what landed', async (scenario) => {
    await frozenWriterRun('raw', scenario);
  });
  test('WAL runtime, stopped with sends in flight: callers are told what landed', async () => {
    await frozenWriterRun('stack', SCENARIOS[0]!);
  });
  test('WAL runtime under walSemantics(), stopped with sends in flight: callers are told what landed', async () => {
    await frozenWriterRun('semantics', SCENARIOS[0]!);
  });
});
