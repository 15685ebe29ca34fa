import { describe, expect, it } from 'vitest';
import { crashRound, type LogModel, type RoundReport, seededRandom } from './crash-harness.js';
import { scratchDirectory } from './helpers.js';

/**
 * kill -9 during appends: a child process appends with durability fsync (64 in flight) and prints every
 * acknowledgement; it is killed after a number of acknowledgements drawn from a seeded RNG (never a timer),
 * and each restart must find every acknowledged append, in order, at its id, with the log of earlier
 * rounds intact, and take appends again. CI runs CRASH_ROUNDS (default 10) rounds on one directory, so
 * later rounds also recover what earlier crashes left; `pnpm campaign:local-crash` runs many more and
 * prints a summary (see docs/adapter-local.md).
 */
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 10);
const SEED = Number(process.env.CRASH_SEED ?? 20_261_206);

describe('kill -9 during appends', () => {
  it(`after each of ${ROUNDS} kills at drawn points every acknowledged append is there, in order, and the log takes appends`, async () => {
    const directory = scratchDirectory('crash');
    const random = seededRandom(SEED);
    const model: LogModel = { entries: [] };
    const reports: RoundReport[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Mostly mid-stream; one kill in eight right when the writer is ready (recovery, first segment).
      const killAfter = random() < 0.125 ? 0 : 1 + Math.floor(random() * 400);
      reports.push(await crashRound(directory, round, killAfter, model));
    }
    // The kills landed mid-stream: most rounds had acknowledged appends to lose, and segments rolled.
    expect(reports.filter((report) => report.acknowledged > 0).length).toBeGreaterThan(ROUNDS / 2);
    expect(reports.at(-1)!.segments).toBeGreaterThan(1);
  }, 300_000);
});
