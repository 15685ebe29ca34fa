import { type ImmutableMessage, SystemMessageType } from '@walstream/core';
import { ConformanceFailure } from '../../runner/assert.js';
import { assertResumedExactly, throughMarkers } from '../checks/resume.js';
import { identify } from '../messages.js';
import type { ReadRecord } from '../reader.js';
import type { Schedule, ScheduleShape } from '../schedule/arbitrary.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { Coverage } from './coverage.js';
import {
  CLOSE_CUTS_RETRIES,
  CLOSE_DURING_WAVE,
  countCloses,
  forSchedules,
  type Played,
  settle,
} from './scenario.js';

/** Resume points tried per reference reader; chosen to include txns and ticks, then spread evenly. */
const POINTS_PER_READER = 12;

/**
 * Txns that stay open while other appends land, so last-confirmed ids must hold back for their begins;
 * and a reopening, which may run during a wave (a close that cuts retried appends short).
 */
const INTERLEAVED: ScheduleShape = {
  maxVChannels: 2,
  maxWaves: 3,
  maxOpsPerWave: 6,
  maxBodies: 3,
  weights: { append: 4, exclusive: 0, txn: 3, insert: 1 },
  insertBodies: true,
  ends: ['commit', 'commit', 'rollback', 'abandon'],
  faults: true,
  aborts: true,
  maxReopens: 1,
  reopenDuringWaves: true,
};

/** Where one term ends and the next begins in a reader's deliveries: the last of one, the first of the next. */
export function termBoundaries(reference: readonly ImmutableMessage[], end: number): number[] {
  const points: number[] = [];
  for (let index = 1; index < end; index++) {
    if (reference[index]!.walTerm !== reference[index - 1]!.walTerm) points.push(index - 1, index);
  }
  return points;
}

/** Up to `count` entries of `list`, spread evenly. */
function spread(list: readonly number[], count: number): number[] {
  if (list.length <= count) return [...list];
  return Array.from({ length: count }, (_, i) => list[Math.floor((i * list.length) / count)]!);
}

/** Points before `end` (the last marker) to resume after: Txns and ticks first, then spread over the rest. */
function resumePoints(reference: readonly ImmutableMessage[], end: number): number[] {
  const all = Array.from({ length: end }, (_, index) => index);
  const special = all.filter((index) => {
    const type = reference[index]!.messageType;
    return type === SystemMessageType.Txn || type === SystemMessageType.TimeTick;
  });
  // Either side of every term change first: the close's last deliveries and the next term's first.
  const chosen = new Set(termBoundaries(reference, end));
  for (const index of spread(special, POINTS_PER_READER / 2)) chosen.add(index);
  for (const index of spread(all, Math.max(0, POINTS_PER_READER - chosen.size))) chosen.add(index);
  return [...chosen].sort((a, b) => a - b);
}

/**
 * Resumes after each of `points` (indices into the reader's deliveries up to its last marker, or every
 * spread point when absent) and checks each resumed reader yields exactly the rest.
 */
export async function resumeAfterPoints(
  played: Played,
  reader: ReadRecord,
  coverage: Coverage,
  choose: (reference: readonly ImmutableMessage[], end: number) => number[] = resumePoints,
): Promise<void> {
  const { stack, markers, settleMs } = played;
  const scoped = markers.filter(
    (marker) => reader.scope.vchannel === undefined || marker.vchannel === reader.scope.vchannel,
  );
  const keys = scoped.map((marker) => marker.key);
  const reference = throughMarkers(reader, keys);
  const markerAt = new Map<string, number>();
  reference.forEach((message, index) => {
    const seen = identify(message);
    if (seen.kind === 'plain' && keys.includes(seen.key)) markerAt.set(seen.key, index);
  });
  for (const index of choose(reference, reference.length - 1)) {
    const from = reference[index]!;
    coverage.add(from.messageType === SystemMessageType.Txn ? 'resumes after a Txn' : 'resumes');
    const after = keys.filter((key) => (markerAt.get(key) ?? -1) > index);
    // A reference read from the replica resumes there too: the store path, not the write-ahead buffer.
    const resumed = await stack.read(`resume${index}`, {
      ...(reader.scope.vchannel === undefined ? {} : { vchannel: reader.scope.vchannel }),
      after: from,
      replica: reader.label.endsWith('@ro'),
    });
    const stalled = await settle(stack, settleMs, [(signal) => resumed.waitFor(after, signal)]);
    await resumed.close();
    assertResumedExactly(reference, index, throughMarkers(resumed, keys), `reader ${reader.label}`);
    if (stalled.length > 0) throw new ConformanceFailure(`a resumed reader stalled: ${stalled.join('; ')}`);
  }
}

/** Covers the resume case: a committed Txn among plain appends, so there are Txns and ticks to resume after. */
const WITH_TXN: Schedule = {
  vchannels: 2,
  steps: [
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false },
        { kind: 'txn', vchannel: 0, bodies: 2, end: 'commit' },
        { kind: 'append', vchannel: 1, exclusive: false },
        { kind: 'append', vchannel: 0, exclusive: false },
      ],
    },
  ],
};

/** The resume idiom: from any delivered message, startFrom(LC) + timeTickGT(tt) gives exactly the rest. */
export const resume: readonly SemanticsCaseDefinition[] = [
  {
    group: 'resume',
    name: 'resuming after any delivered message with startFrom(its LC) + timeTickGT(its tt) yields exactly the rest',
    async run(t) {
      const coverage = new Coverage();
      const required = ['resumes', 'resumes after a Txn', CLOSE_CUTS_RETRIES];
      await forSchedules(
        t,
        'resume',
        INTERLEAVED,
        async (played) => {
          countCloses(played, coverage);
          // Catch-up references (every vchannel, each vchannel) and the tailing one, whose ticks may be
          // non-persisted: their LC must be a valid resume point too. The tailing reference crossed every
          // reopening, the close's final TimeTick included.
          for (const reader of [...played.finals, played.tails[0]!])
            await resumeAfterPoints(played, reader, coverage);
        },
        { examples: [WITH_TXN, CLOSE_DURING_WAVE], covered: () => coverage.covers(...required) },
      );
      coverage.require(...required);
    },
  },
];
