import { assertInsertsInSegments } from '../checks/segments.js';
import type { Schedule, ScheduleShape } from '../schedule/arbitrary.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { Coverage } from './coverage.js';
import { everyReader, forSchedules } from './scenario.js';

/** Mostly Inserts, plain and in txns, on few vchannels: segments fill, seal and are made anew; a reopening. */
const INSERTING: ScheduleShape = {
  maxVChannels: 2,
  maxWaves: 3,
  maxOpsPerWave: 7,
  maxBodies: 3,
  weights: { append: 1, exclusive: 0, txn: 2, insert: 6 },
  insertBodies: true,
  ends: ['commit', 'commit', 'rollback', 'abandon'],
  faults: true,
  aborts: true,
  maxReopens: 1,
};

/**
 * Covers the case: with the default protocol's 200 000 rows an insert, six inserts and a txn of inserts
 * on one vchannel outgrow its first segment (1 000 000 rows): it is sealed, and a second one is made.
 */
const ROLLING: Schedule = {
  vchannels: 1,
  steps: [
    { kind: 'faults', on: true },
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false, insert: true },
        { kind: 'append', vchannel: 0, exclusive: false, insert: true },
        { kind: 'txn', vchannel: 0, bodies: 2, end: 'commit', insertBodies: true },
        { kind: 'append', vchannel: 0, exclusive: false, insert: true },
      ],
    },
    {
      kind: 'wave',
      ops: [
        { kind: 'append', vchannel: 0, exclusive: false, insert: true },
        { kind: 'append', vchannel: 0, exclusive: false, insert: true },
        { kind: 'append', vchannel: 0, exclusive: false, insert: true },
      ],
    },
  ],
};

const CREATED = 'segments created for inserts';
const ROLLED = 'vchannels that outgrew a segment and got another';

/** Segments: every Insert lands in a segment the WAL made before it, which it seals only after it. */
export const segments: readonly SemanticsCaseDefinition[] = [
  {
    group: 'segments',
    name: 'every Insert is delivered after the CreateSegment of its segment and before its Flush; full segments roll',
    async run(t) {
      const segmentEvent = t.protocol.segmentEvent?.bind(t.protocol);
      if (!segmentEvent)
        return t.skip('the protocol has no segmentEvent: the stack does not say where inserts go');
      const coverage = new Coverage();
      const required = [CREATED, ROLLED];
      await forSchedules(
        t,
        'segments',
        INSERTING,
        (played) => {
          for (const reader of everyReader(played)) {
            const tally = assertInsertsInSegments(reader, segmentEvent);
            if (reader !== played.all) continue;
            coverage.add(CREATED, tally.created);
            if (tally.mostPerVChannel > 1) coverage.add(ROLLED);
          }
        },
        { examples: [ROLLING], covered: () => coverage.covers(...required) },
      );
      coverage.require(...required);
    },
  },
];
