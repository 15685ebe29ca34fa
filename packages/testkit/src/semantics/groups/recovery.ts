import { type ImmutableMessage, SystemMessageType } from '@walstream/core';
import { ConformanceFailure, check } from '../../runner/assert.js';
import { assertReadersAgree, logOf } from '../checks/agreement.js';
import { assertExactlyOnce } from '../checks/delivery.js';
import { summarize } from '../checks/scope.js';
import { assertTimeTickContract, assertTimeTickOrder } from '../checks/timetick.js';
import { assertCommittedWhole, assertUncommittedInvisible } from '../checks/txn.js';
import { isAcked } from '../ledger.js';
import { describeMessage, KEY_PROPERTY } from '../messages.js';
import type { Schedule, ScheduleShape } from '../schedule/arbitrary.js';
import { appendPlain, beginWithBodies, endTxn } from '../schedule/client.js';
import { appendMarkers } from '../schedule/execute.js';
import type { SemanticsStack } from '../stack.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { Coverage } from './coverage.js';
import { resumeAfterPoints, termBoundaries } from './resume.js';
import {
  CLOSE_CUTS_RETRIES,
  CLOSE_DURING_WAVE,
  countCloses,
  everyReader,
  forSchedules,
  type Played,
} from './scenario.js';

/** Appends and txns with reopenings between waves (graceful or over a live WAL), txns open across them. */
const REOPENING: ScheduleShape = {
  maxVChannels: 2,
  maxWaves: 3,
  maxOpsPerWave: 5,
  maxBodies: 3,
  weights: { append: 4, exclusive: 0, txn: 3, insert: 2 },
  insertBodies: true,
  ends: ['commit', 'rollback', 'commitAfterReopen', 'commitAfterReopen', 'abandon'],
  faults: true,
  aborts: false,
  maxReopens: 2,
  minReopens: 1,
  reopenDuringWaves: true,
};

/** Covers the recovery case: a txn open across a graceful reopening, then a reopening over a live WAL. */
const BOTH_REOPENINGS: Schedule = {
  vchannels: 1,
  steps: [
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'txn', vchannel: 0, bodies: 2, end: 'commitAfterReopen' },
      ],
    },
    { kind: 'reopen', graceful: true, duringWave: false },
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'txn', vchannel: 0, bodies: 1, end: 'commitAfterReopen' },
      ],
    },
    { kind: 'reopen', graceful: false, duringWave: false },
    { kind: 'wave', ops: [{ kind: 'append', vchannel: 0, exclusive: false }] },
  ],
};

function countRecovery(played: Played, coverage: Coverage): void {
  for (const how of played.stack.reopenings) {
    coverage.add(how === 'graceful' ? 'graceful reopenings' : 'reopenings over a live WAL');
  }
  for (const txn of played.stack.ledger.txns.values()) {
    const bodies = txn.bodies.filter((body) => isAcked(body.outcome)).length;
    if (txn.end === 'commitAfterReopen' && isAcked(txn.commit) && bodies > 0)
      coverage.add('txns committed after a reopening');
  }
}

/**
 * The WAL's first entry of every term is a persisted TimeTick above every earlier timetick, and every
 * later entry of the term is above it; no entry of an older term lands after a newer term began.
 */
function assertFencingTicks(entries: readonly ImmutableMessage[]): void {
  const problems: string[] = [];
  let highest = -1n;
  let term: bigint | undefined;
  let fence = -1n;
  entries.forEach((entry, index) => {
    const at = `entry #${index} ${describeMessage(entry)}`;
    const entryTerm = entry.walTerm;
    const tt = entry.hasTimeTick ? entry.timeTick : undefined;
    if (entryTerm === undefined || tt === undefined) {
      problems.push(`${at} carries no ${entryTerm === undefined ? 'writer term (_wt)' : 'timetick'}`);
      return;
    }
    if (term !== undefined && entryTerm < term)
      problems.push(`${at} of term ${entryTerm} landed after term ${term} began`);
    if (term === undefined || entryTerm > term) {
      term = entryTerm;
      fence = tt;
      const isTick = entry.messageType === SystemMessageType.TimeTick && entry.persisted;
      if (!isTick) problems.push(`${at} is the first entry of term ${entryTerm}, not its fencing TimeTick`);
      if (tt <= highest)
        problems.push(`${at} opens term ${entryTerm} at tt=${tt}, not above the earlier tt=${highest}`);
    } else if (entryTerm === term && tt <= fence) {
      problems.push(`${at} is not above its term's fencing TimeTick (tt=${fence})`);
    }
    if (tt > highest) highest = tt;
  });
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `the log does not start each term with its fencing TimeTick:\n${summarize(problems)}`,
    );
  }
}

/**
 * No save of a lower term replaced the record of a higher one: every such save resolved false, and the
 * record left is the newest term's.
 */
async function assertNoRollback(stack: SemanticsStack): Promise<void> {
  const problems: string[] = [];
  for (const [index, save] of stack.catalog.saves.entries()) {
    if (save.newestAccepted === undefined || save.term >= save.newestAccepted) continue;
    if (save.result === true) {
      problems.push(
        `save #${index} by term ${save.term} resolved true after term ${save.newestAccepted} had saved: it replaced the newer record`,
      );
    }
  }
  const stored = await stack.catalog.getCheckpoint(stack.pchannel);
  if ((stored?.term ?? 0n) < stack.term) {
    problems.push(
      `the catalog holds the checkpoint of term ${stored?.term ?? 'none'}, not of term ${stack.term}, which saved its own`,
    );
  }
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `a fenced WAL rolled the checkpoint back (saveCheckpoint must refuse a lower term, atomically):\n${summarize(problems)}`,
    );
  }
}

/** Recovery: close (or lose) the WAL, reopen it at a higher term, and everything carries on. */
export const recovery: readonly SemanticsCaseDefinition[] = [
  {
    group: 'recovery',
    name: 'after reopening at a higher term, vchannels are known, open txns commit whole and readers continue exactly',
    async run(t) {
      const coverage = new Coverage();
      let fencing = true;
      // Without fencing every reopening is graceful (see SemanticsStack.reopen).
      const required = () => [
        'graceful reopenings',
        'txns committed after a reopening',
        CLOSE_CUTS_RETRIES,
        ...(fencing ? ['reopenings over a live WAL'] : []),
      ];
      await forSchedules(
        t,
        'recover',
        REOPENING,
        async (played) => {
          fencing = played.stack.adapter.capabilities.fencing;
          countRecovery(played, coverage);
          countCloses(played, coverage);
          const ledger = played.stack.ledger;
          const readers = everyReader(played);
          const log = logOf(readers);
          for (const reader of readers) {
            assertTimeTickOrder(reader);
            assertTimeTickContract(reader, ledger, log);
            assertExactlyOnce(reader, ledger);
            assertCommittedWhole(reader, ledger, true);
            assertUncommittedInvisible(reader, ledger);
          }
          assertReadersAgree(readers, ledger);
          // A reader may stop at either side of a term change (the fencing TimeTick included) and resume;
          // the tailing reader too, which crossed each term change by resuming itself.
          for (const reader of [...played.finals, played.tails[0]!])
            await resumeAfterPoints(played, reader, coverage, termBoundaries);
        },
        { examples: [BOTH_REOPENINGS, CLOSE_DURING_WAVE], covered: () => coverage.covers(...required()) },
      );
      coverage.require(...required());
    },
  },
  {
    group: 'recovery',
    name: 'every term starts with a persisted fencing TimeTick above every earlier timetick',
    async run(t) {
      const stack = await t.stack('fence', 1);
      const vchannel = stack.vchannels[0]!;
      const rules = { strictTxns: true };
      await appendPlain(stack, vchannel, 'plain');
      const open = await beginWithBodies(stack, vchannel, 2, 'commitAfterReopen', rules);
      await stack.reopen({ graceful: true });
      await appendPlain(stack, vchannel, 'plain');
      await endTxn(stack, open, rules);
      await stack.reopen({ graceful: false });
      await appendPlain(stack, vchannel, 'plain');
      const [marker] = await appendMarkers(stack);
      const entries = await stack.readRaw((entry) => entry.properties[KEY_PROPERTY] === marker!.key, 10_000);
      assertFencingTicks(entries);
    },
  },
  {
    group: 'recovery',
    name: 'a WAL fenced by a newer term never rolls the checkpoint back',
    async run(t) {
      const stack = await t.stack('rollback', 1);
      if (!stack.adapter.capabilities.fencing)
        return t.skip('the adapter does not fence: no term runs beside a newer one');
      const vchannel = stack.vchannels[0]!;
      const reader = await stack.read('tail', { vchannel });
      // Term 1 applied something it has not saved yet (a TimeTick made it visible): it saves on close.
      const record = await appendPlain(stack, vchannel, 'plain');
      await reader.waitFor([record.key], t.signal);
      // Term 2 opens (and saves) while term 1 still runs; then term 1 closes, unaware it was fenced.
      await stack.reopen({ graceful: false });
      await appendMarkers(stack);
      const late = stack.catalog.saves.filter(
        (save) => save.newestAccepted !== undefined && save.term < save.newestAccepted,
      );
      await assertNoRollback(stack);
      check(
        late.length > 0,
        'the case checked nothing: the fenced WAL of term 1 never saved a checkpoint after term 2 had saved one',
      );
    },
  },
];
