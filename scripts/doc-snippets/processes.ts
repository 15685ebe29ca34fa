import { spawn } from 'node:child_process';

export interface ProcessResult {
  /** The exit code, or `undefined` when the process was killed (timeout) or ended by a signal. */
  readonly code: number | undefined;
  readonly signal: NodeJS.Signals | undefined;
  readonly timedOut: boolean;
  /** stdout and stderr interleaved, the last `OUTPUT_LIMIT` characters. */
  readonly output: string;
  readonly ms: number;
}

const OUTPUT_LIMIT = 8_000;

export interface RunProcessOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
}

/**
 * Runs a command in its own process group and collects its output. On timeout the whole group is killed
 * (a `pnpm …` line starts grandchildren), so nothing outlives the runner.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: RunProcessOptions,
): Promise<ProcessResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.length > 2 * OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      // A block that exits while a grandchild still runs leaves it in the group: end it too.
      killGroup();
      resolve({
        code: code ?? undefined,
        signal: signal ?? undefined,
        timedOut,
        output: output.slice(-OUTPUT_LIMIT),
        ms: performance.now() - started,
      });
    };
    child.on('error', (error) => {
      output += `\n${error.message}`;
      finish(null, null);
    });
    child.on('close', finish);
  });
}

/** Runs `tasks` with at most `limit` of them at a time, results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
