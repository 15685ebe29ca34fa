import { assertExactlyOnce } from '../checks/delivery.js';
import { assertTimeTickOrder } from '../checks/timetick.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { BUSY, everyReader, forSchedules } from './scenario.js';

/** What every reader of a vchannel can rely on: timetick order, and each acknowledged append once. */
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
];
