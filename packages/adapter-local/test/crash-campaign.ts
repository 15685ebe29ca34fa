/**
 * `pnpm campaign:local-crash`: the kill -9 test of crash.test.ts for many rounds (CRASH_ROUNDS, default
 * 200; CRASH_SEED to replay), on one directory, with a summary of what the kills hit. Exits 1 at the first
 * round whose restart lost or misplaced an acknowledged append (the message says which).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crashRound, type LogModel, type RoundReport, seededRandom } from './crash-harness.js';

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 200);
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000_000);
const directory = mkdtempSync(join(tmpdir(), 'walstream-local-crash-campaign-'));
const random = seededRandom(SEED);
const model: LogModel = { entries: [] };
const reports: RoundReport[] = [];
const started = performance.now();
console.log(`crash campaign: ${ROUNDS} rounds, seed ${SEED}, directory ${directory}`);
try {
  for (let round = 0; round < ROUNDS; round++) {
    const killAfter = random() < 0.125 ? 0 : 1 + Math.floor(random() * 400);
    const report = await crashRound(directory, round, killAfter, model);
    reports.push(report);
    if ((round + 1) % 10 === 0) {
      console.log(`  ${round + 1} rounds passed (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
} catch (error) {
  console.error(
    `FAILED in round ${reports.length} (seed ${SEED}): ${error instanceof Error ? error.message : String(error)}`,
  );
  console.error(`the directory is kept for inspection: ${directory}`);
  process.exit(1);
}
rmSync(directory, { recursive: true, force: true });

const sum = (pick: (report: RoundReport) => number) =>
  reports.reduce((total, report) => total + pick(report), 0);
const acknowledged = sum((r) => r.acknowledged);
const recovered = sum((r) => r.recovered);
const rows: [string, string][] = [
  ['rounds (writer killed with SIGKILL, log reopened and checked)', String(reports.length)],
  ['seed', String(SEED)],
  ['kills as soon as the writer was ready', String(reports.filter((r) => r.killAfter === 0).length)],
  ['kills after 1..400 acknowledgements', String(reports.filter((r) => r.killAfter > 0).length)],
  ['acknowledged appends', acknowledged.toLocaleString('en-US')],
  ['acknowledged appends found after the restart, at their ids', acknowledged.toLocaleString('en-US')],
  [
    'records that landed without an acknowledgement (in flight at the kill)',
    (recovered - acknowledged).toLocaleString('en-US'),
  ],
  ['restarts that cut a torn tail', String(reports.filter((r) => r.cutBytes > 0).length)],
  ['bytes cut in all', sum((r) => r.cutBytes).toLocaleString('en-US')],
  ['records in the log at the end', model.entries.length.toLocaleString('en-US')],
  ['segments at the end', String(reports.at(-1)?.segments ?? 0)],
  ['time', `${((performance.now() - started) / 1000).toFixed(0)} s`],
];
const width = Math.max(...rows.map(([label]) => label.length));
console.log(`\n| ${'what'.padEnd(width)} | value |\n|${'-'.repeat(width + 2)}|-------|`);
for (const [label, value] of rows) console.log(`| ${label.padEnd(width)} | ${value} |`);
