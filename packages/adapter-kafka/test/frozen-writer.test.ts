import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy, type ImmutableMessage, type MessageID, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  adapterFor,
  bootstrap,
  DRIVERS,
  message,
  showBrokerLogOnFailure,
  uniqueChannel,
  waitFor,
  within,
} from './helpers.js';

/**
 * A writer in another process (fixtures/frozen-writer.ts) stopped with SIGSTOP at a chosen point of a
 * transaction, a newer term opened and written meanwhile, then SIGCONT: what the old writer's callers
 * were told must match what the log holds afterwards. The child runs with 3 s operation and transaction
 * timeouts, so "past the timeouts" takes seconds.
 */
const OPERATION_TIMEOUT_MS = 3_000;
const TRANSACTION_TIMEOUT_MS = 3_000;
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
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});
beforeEach(() => showBrokerLogOnFailure());

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
  readonly stage: 'sent' | 'committing' | 'committed';
  /** -1: stopped inside the stage event; else that many ms later (somewhere inside the commit). */
  readonly delayMs: number;
  /** How long the writer stays stopped before the newer term opens (past a timeout or not at all). */
  readonly stoppedBeforeTakeoverMs: number;
  /** How long it stays stopped in all, from the moment it stopped. */
  readonly stoppedAtLeastMs: number;
}

const SCENARIOS: readonly Scenario[] = [
  {
    label: 'right after its sends',
    stage: 'sent',
    delayMs: -1,
    stoppedBeforeTakeoverMs: 0,
    stoppedAtLeastMs: 0,
  },
  {
    label: 'during its commit',
    stage: 'committing',
    delayMs: 2,
    stoppedBeforeTakeoverMs: 0,
    stoppedAtLeastMs: 0,
  },
  {
    label: 'after its commit was answered, past the operation timeout',
    stage: 'committed',
    delayMs: -1,
    stoppedBeforeTakeoverMs: 0,
    stoppedAtLeastMs: OPERATION_TIMEOUT_MS + 500,
  },
  {
    label: 'right after its sends, past the transaction timeout',
    stage: 'sent',
    delayMs: -1,
    stoppedBeforeTakeoverMs: TRANSACTION_TIMEOUT_MS + 500,
    stoppedAtLeastMs: OPERATION_TIMEOUT_MS + 500,
  },
];

async function frozenWriterRun(
  driver: (typeof DRIVERS)[number],
  mode: 'raw' | 'stack' | 'semantics',
  scenario: Scenario,
) {
  const name = uniqueChannel('frozen');
  const writer = startWriter([
    bootstrap(),
    driver,
    name,
    scenario.stage,
    '3',
    String(scenario.delayMs),
    mode,
    String(OPERATION_TIMEOUT_MS),
    String(TRANSACTION_TIMEOUT_MS),
  ]);
  const pid = writer.child.pid!;
  await within(
    (async () => {
      await waitFor(
        () => writer.lines.includes('frozen') || writer.child.exitCode !== null,
        'frozen',
        30_000,
      );
      await waitFor(() => processState(pid) === 'T', 'the writer to stop', 5_000);
    })(),
    40_000,
    'the writer to stop',
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\nchild stderr:\n${writer.stderr}`);
  });
  const stoppedAt = Date.now();
  const acknowledgedBefore = writer.outcomes.filter((o) => o.ok).length;
  // The point of these cases is time passing while the writer is stopped: the broker's and the writer's
  // timeouts run out meanwhile. Nothing is checked during the wait.
  const until = (ms: number) => waitFor(() => Date.now() - stoppedAt >= ms, `${ms} ms stopped`, ms + 1_000);
  await until(scenario.stoppedBeforeTakeoverMs);
  const opener = await adapterFor(driver).build();
  openers.push(opener);
  const successor = await opener.open({ channel: pchannel(name, 2n) });
  const ours: MessageID[] = [];
  for (let i = 0; i < 3; i++) ours.push(await successor.append(message(1000 + i, { seq: `new-${i}` })));
  await until(scenario.stoppedAtLeastMs);
  writer.child.kill('SIGCONT');
  const code = await within(writer.exit, 45_000, 'the writer to finish').catch((error: unknown) => {
    throw new Error(`${String(error)}\nchild stderr:\n${writer.stderr}`);
  });
  expect(code, writer.stderr).toBe(0);
  expect(writer.lines.at(-1)).toBe('done');
  await successor.append(message(2000, { seq: 'end' }));
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
    // Nothing of the old term after the new owner's first message.
    expect(i, `old append ${seq} after the new term's first message`).toBeLessThan(firstNew);
  }
  const failures = writer.outcomes.filter((o) => !o.ok);
  // Every acknowledged append is in the log exactly once, at its id.
  for (const outcome of writer.outcomes.filter((o) => o.ok)) {
    const at = oldAt.get(outcome.seq) ?? [];
    expect(at.length, `acknowledged ${outcome.seq} in the log`).toBe(1);
    expect(log[at[0]!]!.id.marshal()).toBe(outcome.id);
  }
  // Every failure after the takeover says CHANNEL_FENCED, not retriable; "not written" (CHANNEL_FENCED
  // not marked unknown, or written=false) is absent from the log.
  for (const failure of failures) {
    expect({ seq: failure.seq, code: failure.code, retriable: failure.retriable }).toEqual({
      seq: failure.seq,
      code: 'CHANNEL_FENCED',
      retriable: false,
    });
    // The adapter says which: written=false, or 'unknown' where it cannot know.
    expect(['false', 'unknown']).toContain(failure.written);
    if (failure.written !== 'unknown') {
      expect(oldAt.has(failure.seq), `${failure.seq} was reported not written yet is in the log`).toBe(false);
    }
  }
  // The writer knows what its transactions did once the log shows the newer term: whatever of its
  // appends is in the log was acknowledged.
  for (const seq of oldAt.keys()) {
    expect(writer.outcomes.find((o) => o.seq === seq)?.ok, `${seq} is in the log: acknowledged`).toBe(true);
  }
  expect(acknowledgedBefore).toBeGreaterThan(0);
  // Stopped after the EndTxn was answered, the transaction is committed: its appends resolve on resume.
  if (scenario.stage === 'committed') {
    expect(writer.outcomes.filter((o) => o.ok).length).toBeGreaterThan(acknowledgedBefore);
  }
  expect(failures.length).toBeGreaterThan(0);
  return { acknowledged: writer.outcomes.length - failures.length, failures: failures.length };
}

describe.each(DRIVERS)('kafka frozen writer (%s)', (driver) => {
  test.each(SCENARIOS)('raw adapter, stopped $label: callers are told what landed', async (scenario) => {
    await frozenWriterRun(driver, 'raw', scenario);
  });
  test('WAL runtime, stopped after its commit was answered past the operation timeout: callers are told what landed', async () => {
    await frozenWriterRun(driver, 'stack', SCENARIOS[2]!);
  });
  test('WAL runtime under walSemantics(), stopped after its commit was answered past the operation timeout: callers are told what landed', async () => {
    await frozenWriterRun(driver, 'semantics', SCENARIOS[2]!);
  });
});
