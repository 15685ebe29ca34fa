import { hasCode } from '@walstream/core';
import { check, describeError } from '../../runner/assert.js';
import { assertExclusiveAlone } from '../checks/exclusive.js';
import { assertCommittedWhole, assertUncommittedInvisible } from '../checks/txn.js';
import { isAcked } from '../ledger.js';
import type { Schedule, ScheduleShape } from '../schedule/arbitrary.js';
import { appendPlain, beginWithBodies, endTxn } from '../schedule/client.js';
import { appendMarkers } from '../schedule/execute.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { Coverage } from './coverage.js';
import { forSchedules, settle } from './scenario.js';

/**
 * Exclusive messages among many concurrent appends on the same vchannels, with injected errors: retried
 * writes land out of allocation order unless the lock keeps exclusive messages alone.
 */
const CROWDED: ScheduleShape = {
  maxVChannels: 2,
  maxWaves: 3,
  maxOpsPerWave: 8,
  maxBodies: 2,
  weights: { append: 5, exclusive: 2, txn: 1, insert: 2 },
  ends: ['commit', 'rollback'],
  faults: true,
  alwaysFaulty: true,
  aborts: false,
  maxReopens: 0,
};

/** Covers the alone case: an exclusive append among concurrent appends on its vchannel, errors on. */
const AMONG_APPENDS: Schedule = {
  vchannels: 2,
  steps: [
    { kind: 'faults', on: true },
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'append', vchannel: 0, exclusive: true },
        { kind: 'append', vchannel: 1, exclusive: false },
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'append', vchannel: 0, exclusive: true },
      ],
    },
  ],
};

/** Exclusive-required messages: alone on their vchannel, and txns may not straddle them. */
export const exclusive: readonly SemanticsCaseDefinition[] = [
  {
    group: 'exclusive',
    name: 'an exclusive message is alone on its vchannel: its timetick order equals its id order',
    async run(t) {
      const coverage = new Coverage();
      const required = ['exclusive among concurrent appends'];
      await forSchedules(
        t,
        'excl',
        CROWDED,
        (played) => {
          for (const step of played.schedule.steps) {
            if (step.kind !== 'wave') continue;
            for (const op of step.ops) {
              const crowded = step.ops.some((other) => other !== op && other.vchannel === op.vchannel);
              if (op.kind === 'append' && op.exclusive && crowded)
                coverage.add('exclusive among concurrent appends');
            }
          }
          for (const reader of played.finals) assertExclusiveAlone(reader);
        },
        { examples: [AMONG_APPENDS], covered: () => coverage.covers(...required) },
      );
      coverage.require(...required);
    },
  },
  {
    group: 'exclusive',
    name: 'an exclusive message fails the open txns of its vchannel, and only those',
    async run(t) {
      const stack = await t.stack('exclfail', 2);
      const [v0, v1] = stack.vchannels as [string, string];
      const rules = { strictTxns: false };
      const straddling = await beginWithBodies(stack, v0, 2, 'commit', rules);
      const elsewhere = await beginWithBodies(stack, v1, 2, 'commit', rules);
      await appendPlain(stack, v0, 'exclusive');
      await endTxn(stack, straddling, rules);
      await endTxn(stack, elsewhere, rules);
      const straddled = straddling.commit;
      check(
        straddled?.status === 'failed' &&
          hasCode(straddled.error, 'TRANSACTION_EXPIRED', 'INVALID_TRANSACTION_STATE'),
        () =>
          `txn ${straddling.key} on ${v0} began before an exclusive message on ${v0}; its commit must be refused ` +
          `(TRANSACTION_EXPIRED or INVALID_TRANSACTION_STATE), but it ${straddled?.status === 'acked' ? 'was acknowledged' : `failed with ${describeError(straddled?.status === 'failed' ? straddled.error : undefined)}`}`,
      );
      check(
        isAcked(elsewhere.commit),
        () =>
          `txn ${elsewhere.key} on ${v1} must not be failed by an exclusive message on ${v0}, but its commit failed`,
      );
      const markers = await appendMarkers(stack);
      const reader = await stack.read('all');
      const keys = markers.map((marker) => marker.key);
      const stalled = await settle(t, t.settleMs, [(signal) => reader.waitFor(keys, signal)]);
      assertUncommittedInvisible(reader, stack.ledger);
      assertCommittedWhole(reader, stack.ledger, true);
      check(stalled.length === 0, () => `the reader stalled: ${stalled.join('; ')}`);
    },
  },
];
