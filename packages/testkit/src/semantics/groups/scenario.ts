import { hasCode } from '@walstream/core';
import type fc from 'fast-check';
import { ConformanceFailure } from '../../runner/assert.js';
import { EXTRA_BATCHES, type ForAllOptions, SemanticsFixture } from '../fixture.js';
import { isAcked, type PlainRecord } from '../ledger.js';
import type { Reader, ReadRecord } from '../reader.js';
import {
  describeSchedule,
  type Schedule,
  type ScheduleShape,
  scheduleArbitrary,
} from '../schedule/arbitrary.js';
import { execute } from '../schedule/execute.js';
import type { SemanticsStack } from '../stack.js';
import { TailChain } from '../tail-chain.js';
import type { SemanticsTestContext, StackScope } from '../types.js';
import type { Coverage } from './coverage.js';

/** What one schedule left behind for the checks. */
export interface Played {
  readonly stack: SemanticsStack;
  readonly schedule: Schedule;
  readonly markers: readonly PlainRecord[];
  /**
   * Readers started before the first append: on the WAL (every vchannel, the first vchannel), resumed on
   * each new term's WAL; and on a read-only replica, which reads the store across terms. Complete.
   */
  readonly tails: readonly ReadRecord[];
  /**
   * Readers from the start of the log once the schedule ran: on the last term's WAL (every vchannel, then
   * each one), and on the read-only replica (every vchannel).
   */
  readonly finals: readonly Reader[];
  /** `finals[0]`: the catch-up reader of every vchannel. */
  readonly all: Reader;
  /** How long readers may take to deliver what was acknowledged (the suite's `settleMs`). */
  readonly settleMs: number;
  /** Readers that did not deliver their end markers within `settleMs`, and why. */
  readonly stalled: readonly string[];
}

/**
 * Plays a schedule on a fresh stack with tailing readers (every vchannel, and the first vchannel) running
 * from before the first append, then reads the whole log again from the start, and waits until every
 * reader delivered the end markers of its vchannels.
 */
export async function play(
  scope: StackScope,
  t: SemanticsTestContext,
  label: string,
  schedule: Schedule,
): Promise<Played> {
  const stack = await scope.stack(label, schedule.vchannels);
  const chains = [
    await TailChain.start(stack, 'tail'),
    await TailChain.start(stack, 'tail-v0', stack.vchannels[0]),
  ];
  const tails = [...chains, await stack.read('ro-tail', { replica: true })];
  const markers = await execute(stack, schedule, t.appendErrorRate, {
    afterReopen: async () => {
      for (const chain of chains) await chain.continueOn(stack);
    },
  });
  const markersOf = (vchannel: string | undefined) =>
    markers
      .filter((marker) => vchannel === undefined || marker.vchannel === vchannel)
      .map((marker) => marker.key);
  const stalled = await settle(
    scope,
    t.settleMs,
    tails.map((tail) => (signal) => tail.waitFor(markersOf(tail.scope.vchannel), signal)),
  );
  const finals = [await stack.read('all')];
  for (const vchannel of stack.vchannels)
    finals.push(await stack.read(`all-${vchannel.slice(-2)}`, { vchannel }));
  finals.push(await stack.read('ro-all', { replica: true }));
  stalled.push(
    ...(await settle(
      scope,
      t.settleMs,
      finals.map((reader) => (signal) => reader.waitFor(markersOf(reader.scope.vchannel), signal)),
    )),
  );
  return { stack, schedule, markers, tails, finals, all: finals[0]!, settleMs: t.settleMs, stalled };
}

/**
 * Waits until every wait resolved, for at most `settleMs` together, and returns why the others did not.
 * A reader that did not deliver in time is not an error yet: the checks first judge what it did deliver,
 * so the report names the promise it broke (a TimeTick that came too early, a gap) rather than "stalled".
 */
export async function settle(
  scope: { readonly signal: AbortSignal },
  settleMs: number,
  waits: readonly ((signal: AbortSignal) => Promise<void>)[],
): Promise<string[]> {
  const bounded = AbortSignal.any([scope.signal, AbortSignal.timeout(settleMs)]);
  const stalled: string[] = [];
  await Promise.all(
    waits.map((wait) =>
      wait(bounded).catch((error: unknown) => {
        if (scope.signal.aborted) throw error;
        stalled.push(error instanceof Error ? error.message : String(error));
      }),
    ),
  );
  return stalled;
}

/** How a case runs its schedules beyond the generated ones. */
export interface ScheduleRuns {
  readonly numRuns?: number;
  /**
   * Hand-built schedules that bring about every situation the case requires; they run first (in every
   * batch), on top of the generated ones. Their `faults` steps are dropped when the options give no hook.
   */
  readonly examples?: readonly Schedule[];
  /** Whether the case's required coverage was reached: while not, further batches of schedules run. */
  readonly covered?: () => boolean;
}

/**
 * Checks `verify` on the outcome of `numRuns` generated schedules of `shape` (and of `runs.examples`).
 * With `runs.covered`, a case whose required situations did not all come up gets up to
 * {@link EXTRA_BATCHES} more batches, on seeds derived from the first, before it checks its coverage.
 */
export function forSchedules(
  t: SemanticsTestContext,
  label: string,
  shape: ScheduleShape,
  verify: (played: Played) => void | Promise<void>,
  runs: ScheduleRuns = {},
): Promise<void> {
  const arbitrary: fc.Arbitrary<Schedule> = scheduleArbitrary({ ...shape, faults: shape.faults && t.faults });
  const options: ForAllOptions<Schedule> = {
    describe: describeSchedule,
    ...(runs.numRuns === undefined ? {} : { numRuns: runs.numRuns }),
  };
  const body = async (schedule: Schedule, scope: StackScope) => {
    const played = await play(scope, t, label, schedule);
    await verify(played);
    // The checks passed on what was delivered, but a reader stopped short of what was acknowledged.
    if (played.stalled.length > 0) {
      throw new ConformanceFailure(
        `readers did not deliver the acknowledged end markers within ${t.settleMs} ms:\n` +
          played.stalled.map((line) => `  - ${line}`).join('\n'),
      );
    }
  };
  // Batches and examples are the suite's own fixture's; another context runs the plain property.
  if (!(t instanceof SemanticsFixture)) return t.forAll(arbitrary, body, options);
  const examples = (runs.examples ?? []).map((schedule) => (t.faults ? schedule : withoutFaults(schedule)));
  return t.forAll(arbitrary, body, {
    ...options,
    ...(examples.length === 0 ? {} : { examples }),
    ...(runs.covered === undefined ? {} : { covered: runs.covered }),
  });
}

function withoutFaults(schedule: Schedule): Schedule {
  return { ...schedule, steps: schedule.steps.filter((step) => step.kind !== 'faults') };
}

/** Every reader of a played schedule: the tailing chains and the catch-up readers. */
export function everyReader(played: Played): ReadRecord[] {
  return [...played.tails, ...played.finals];
}

/** The common shape: a few vchannels, concurrent appends and txns, injected errors on and off. */
export const BUSY: ScheduleShape = {
  maxVChannels: 3,
  maxWaves: 3,
  maxOpsPerWave: 6,
  maxBodies: 3,
  weights: { append: 5, exclusive: 0, txn: 2, insert: 2 },
  insertBodies: true,
  ends: ['commit', 'rollback', 'abandon'],
  faults: true,
  aborts: true,
  maxReopens: 0,
};

/** BUSY with a reopening, which may run during a wave: closes that cut retried appends short. */
export const CLOSING: ScheduleShape = { ...BUSY, maxReopens: 1, reopenDuringWaves: true };

/**
 * A graceful close during a wave: the first acknowledgement the suite drops starts the close, so appends
 * that landed are cut short `ON_SHUTDOWN`, and the close's final TimeTick covers them. The wave opens with
 * an exclusive message, so the appends queued behind it are still in flight while the close writes its
 * final TimeTick, and tailing readers get that tick before their WAL closes. Then a wave on the next term.
 */
export const CLOSE_DURING_WAVE: Schedule = {
  vchannels: 2,
  steps: [
    { kind: 'faults', on: true },
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'txn', vchannel: 1, bodies: 2, end: 'commit' },
        { kind: 'append', vchannel: 1, exclusive: false },
      ],
    },
    { kind: 'faults', on: false },
    { kind: 'reopen', graceful: true, duringWave: true },
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: true },
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'append', vchannel: 0, exclusive: false },
      ],
    },
    { kind: 'wave', ops: [{ kind: 'append', vchannel: 1, exclusive: false }] },
  ],
};

/** The situations {@link countCloses} counts, as {@link Coverage} names. */
export const CLOSE_CUTS_RETRIES = 'graceful closes during a wave that cut retried appends short';
export const LANDED_ON_SHUTDOWN = "appends failed ON_SHUTDOWN ('may have landed') that landed";

/**
 * Counts the graceful closes during a wave that met appends whose acknowledgement was lost, and the
 * appends such a close failed `ON_SHUTDOWN` that are in the log (a reader of the store delivered them).
 */
export function countCloses(played: Played, coverage: Coverage): void {
  for (const reopening of played.stack.reopeningsUnderLostAcks) {
    if (reopening.graceful && reopening.dropped > 0) coverage.add(CLOSE_CUTS_RETRIES);
  }
  const store = played.finals.find((reader) => reader.label.endsWith('@ro'));
  for (const record of played.stack.ledger.plain.values()) {
    const outcome = record.outcome;
    if (!outcome || isAcked(outcome) || !hasCode(outcome.error, 'ON_SHUTDOWN')) continue;
    if (store?.has(record.key)) coverage.add(LANDED_ON_SHUTDOWN);
  }
}
