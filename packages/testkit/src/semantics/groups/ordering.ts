import { assertReadersAgree } from '../checks/agreement.js';
import { assertExactlyOnce } from '../checks/delivery.js';
import { assertTimeTickOrder } from '../checks/timetick.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { Coverage } from './coverage.js';
import {
  BUSY,
  CLOSE_CUTS_RETRIES,
  CLOSE_DURING_WAVE,
  CLOSING,
  countCloses,
  everyReader,
  forSchedules,
  LANDED_ON_SHUTDOWN,
} from './scenario.js';

/**
 * What every reader of a vchannel can rely on: timetick order, each acknowledged append once, and the
 * same messages as every other reader of the WAL.
 */
export const ordering: readonly SemanticsCaseDefinition[] = [
  {
    group: 'ordering',
    name: 'every reader sees each vchannel in non-decreasing timetick order',
    run: (t) =>
      forSchedules(t, 'order', BUSY, (played) => {
        for (const reader of everyReader(played)) assertTimeTickOrder(reader);
      }),
  },
  {
    group: 'ordering',
    name: 'every acknowledged append is read exactly once, with the id and timetick its append returned',
    run: (t) =>
      forSchedules(t, 'once', BUSY, (played) => {
        for (const reader of everyReader(played)) assertExactlyOnce(reader, played.stack.ledger);
      }),
  },
  {
    group: 'ordering',
    name: 'tailing, catch-up and store readers of one WAL deliver the same messages, also across a close during a wave',
    async run(t) {
      const coverage = new Coverage();
      const required = [CLOSE_CUTS_RETRIES, LANDED_ON_SHUTDOWN];
      await forSchedules(
        t,
        'agree',
        CLOSING,
        (played) => {
          countCloses(played, coverage);
          assertReadersAgree(everyReader(played), played.stack.ledger);
        },
        { examples: [CLOSE_DURING_WAVE], covered: () => coverage.covers(...required) },
      );
      coverage.require(...required);
    },
  },
];
