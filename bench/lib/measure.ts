/** Tiny measurement helpers shared by every bench: repeat, take the median, print a table. No assertions. */

export interface Sample {
  /** Operations completed in the run. */
  readonly ops: number;
  readonly seconds: number;
  /** Per-operation latencies in milliseconds, when the case records them. */
  readonly latenciesMs?: readonly number[];
}

export interface Result {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

/** Collects now when the process runs with --expose-gc, so preparation garbage is not billed to a case. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function now(): number {
  return performance.now();
}

export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const index = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, index)]!;
}

export interface BenchCase {
  readonly name: string;
  readonly run: () => Promise<Sample>;
}

function summarize(name: string, samples: Sample[]): Result {
  samples.sort((a, b) => a.ops / a.seconds - b.ops / b.seconds);
  const median = samples[Math.floor(samples.length / 2)]!;
  const latencies = median.latenciesMs ? [...median.latenciesMs].sort((a, b) => a - b) : undefined;
  return {
    name,
    opsPerSecond: median.ops / median.seconds,
    p50Ms: latencies ? percentile(latencies, 50) : undefined,
    p99Ms: latencies ? percentile(latencies, 99) : undefined,
  };
}

/**
 * Runs every case once to warm up, then `rounds` rounds of all cases in turn, and keeps each case's
 * median run. Interleaving puts the baseline and the cases under the same conditions (JIT, GC, load).
 */
export async function measureInterleaved(cases: readonly BenchCase[], rounds = 5): Promise<Result[]> {
  const samples = cases.map((): Sample[] => []);
  for (const benchCase of cases) await benchCase.run();
  for (let round = 0; round < rounds; round++) {
    for (const [index, benchCase] of cases.entries()) {
      samples[index]!.push(await benchCase.run());
      // One case's garbage must not be the next one's cost.
      collectGarbage();
    }
  }
  return cases.map((benchCase, index) => summarize(benchCase.name, samples[index]!));
}

function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function formatMs(value: number | undefined): string {
  return value === undefined || Number.isNaN(value)
    ? ''
    : value < 0.01
      ? '<0.01'
      : value.toFixed(value < 1 ? 3 : 2);
}

/** Prints results as a Markdown table with each row's ratio to `baseline` (a row of the same run). */
export function printTable(title: string, results: readonly Result[], baseline: string): void {
  const base = results.find((result) => result.name === baseline);
  const rows = results.map((result) => [
    result.name,
    formatRate(result.opsPerSecond),
    base ? `${((100 * result.opsPerSecond) / base.opsPerSecond).toFixed(1)} %` : '',
    formatMs(result.p50Ms),
    formatMs(result.p99Ms),
  ]);
  const header = ['case', 'ops/s', `vs ${baseline}`, 'p50 ms', 'p99 ms'];
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  console.log(`\n### ${title}\n`);
  console.log(line(header));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}
