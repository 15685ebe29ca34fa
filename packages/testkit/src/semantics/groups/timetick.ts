import { ConformanceFailure } from '../../runner/assert.js';
import { logOf } from '../checks/agreement.js';
import { assertTimeTickContract } from '../checks/timetick.js';
import { appendPlain } from '../schedule/client.js';
import type { SemanticsCaseDefinition } from '../types.js';
import { Coverage } from './coverage.js';
import {
  CLOSE_CUTS_RETRIES,
  CLOSE_DURING_WAVE,
  CLOSING,
  countCloses,
  everyReader,
  forSchedules,
} from './scenario.js';

/**
 * How long an acknowledged append may take to reach a tailing reader when nothing else is written. The
 * original's 200 ms sync passes easily; a stack that only ticks when pushed by further writes does not.
 */
const VISIBLE_WITHIN_MS = 2_000;

/** The TimeTick contract: a tick at X promises that everything at or below X was delivered. */
export const timeTick: readonly SemanticsCaseDefinition[] = [
  {
    group: 'timeTick',
    name: 'after a TimeTick at X is delivered, every message with tt ≤ X has been delivered',
    async run(t) {
      const coverage = new Coverage();
      const required = [CLOSE_CUTS_RETRIES];
      await forSchedules(
        t,
        'tick',
        CLOSING,
        (played) => {
          countCloses(played, coverage);
          const readers = everyReader(played);
          const log = logOf(readers);
          for (const reader of readers) assertTimeTickContract(reader, played.stack.ledger, log);
        },
        { examples: [CLOSE_DURING_WAVE], covered: () => coverage.covers(...required) },
      );
      coverage.require(...required);
    },
  },
  {
    group: 'timeTick',
    name: 'an acknowledged append reaches a tailing reader with no later write',
    async run(t) {
      const stack = await t.stack('visible', 1);
      const vchannel = stack.vchannels[0]!;
      const reader = await stack.read('tail', { vchannel });
      for (let i = 0; i < 5; i++) {
        const record = await appendPlain(stack, vchannel, 'plain');
        const budget = AbortSignal.any([t.signal, AbortSignal.timeout(VISIBLE_WITHIN_MS)]);
        await reader.waitFor([record.key], budget).catch((error: unknown) => {
          if (t.signal.aborted) throw error;
          throw new ConformanceFailure(
            `the acknowledged append ${record.key} did not reach a tailing reader within ${VISIBLE_WITHIN_MS} ms ` +
              'with nothing else written: the WAL must emit a TimeTick covering acknowledged appends on its own',
            { cause: error },
          );
        });
      }
    },
  },
];
