import {
  assertCommittedWhole,
  assertExpiredCommitsRefused,
  assertUncommittedInvisible,
} from '../checks/txn.js';
import { isAcked, type Ledger } from '../ledger.js';
import type { Schedule, ScheduleShape } from '../schedule/arbitrary.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { Coverage } from './coverage.js';
import { everyReader, forSchedules } from './scenario.js';

/** Txns among plain appends on few vchannels, so commits, rollbacks and expiries interleave. */
const TXNS: ScheduleShape = {
  maxVChannels: 2,
  maxWaves: 3,
  maxOpsPerWave: 5,
  maxBodies: 4,
  weights: { append: 3, exclusive: 0, txn: 4, insert: 1 },
  insertBodies: true,
  ends: ['commit', 'commit', 'rollback', 'expire', 'abandon'],
  faults: true,
  aborts: false,
  maxReopens: 0,
};

/** Covers the commit case: a txn with bodies committed, among plain appends. */
const COMMITTING: Schedule = {
  vchannels: 1,
  steps: [
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'txn', vchannel: 0, bodies: 2, end: 'commit' },
      ],
    },
  ],
};

/** Covers the rollback case: a rollback and an abandon with bodies, and an expiry. */
const ENDING: Schedule = {
  vchannels: 1,
  steps: [
    {
      kind: 'wave',
      ops: [
        { kind: 'txn', vchannel: 0, bodies: 2, end: 'rollback' },
        { kind: 'txn', vchannel: 0, bodies: 1, end: 'expire' },
        { kind: 'txn', vchannel: 0, bodies: 1, end: 'abandon' },
        { kind: 'append', vchannel: 0, exclusive: false },
      ],
    },
  ],
};

function countTxns(ledger: Ledger, coverage: Coverage): void {
  for (const txn of ledger.txns.values()) {
    const bodies = txn.bodies.filter((body) => isAcked(body.outcome)).length;
    if (isAcked(txn.commit) && txn.end !== 'expire' && bodies > 0) coverage.add('committed txns with bodies');
    if (isAcked(txn.rollback) && bodies > 0) coverage.add('rolled-back txns with bodies');
    if (txn.end === 'expire' && txn.commit?.status === 'failed') coverage.add('expired txns');
    if (txn.end === 'abandon' && bodies > 0) coverage.add('abandoned txns with bodies');
  }
}

/** Txn atomicity: readers see a committed txn whole, at its commit, once; anything else never. */
export const txn: readonly SemanticsCaseDefinition[] = [
  {
    group: 'txn',
    name: 'a committed txn is delivered once as one Txn message, whole, every body at the commit timetick',
    async run(t) {
      const coverage = new Coverage();
      const required = ['committed txns with bodies'];
      await forSchedules(
        t,
        'commit',
        TXNS,
        (played) => {
          countTxns(played.stack.ledger, coverage);
          for (const reader of everyReader(played)) assertCommittedWhole(reader, played.stack.ledger, true);
        },
        { examples: [COMMITTING], covered: () => coverage.covers(...required) },
      );
      coverage.require(...required);
    },
  },
  {
    group: 'txn',
    name: 'a rolled-back, expired or abandoned txn is never delivered, not one body',
    async run(t) {
      const coverage = new Coverage();
      const required = ['rolled-back txns with bodies', 'expired txns'];
      await forSchedules(
        t,
        'rollback',
        { ...TXNS, ends: ['rollback', 'expire', 'abandon', 'commit'] },
        (played) => {
          const ledger = played.stack.ledger;
          countTxns(ledger, coverage);
          assertExpiredCommitsRefused(ledger);
          for (const reader of everyReader(played)) assertUncommittedInvisible(reader, ledger);
        },
        { examples: [ENDING], covered: () => coverage.covers(...required) },
      );
      coverage.require(...required);
    },
  },
];
