/* Child processes for the tests that need a second process: TypeScript run from the sources with tsx. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repository = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs `fixtures/<script>` with `args` in a new Node process (tsx, the repository's test tsconfig). */
export function spawnFixture(script: string, args: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(`./fixtures/${script}`, import.meta.url)), ...args],
    {
      cwd: repository,
      env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.tests.json' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
}

/** Calls `onLine` for every line the child writes to stdout; resolves with its exit code and signal. */
export function watch(
  child: ChildProcessWithoutNullStreams,
  onLine: (line: string) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const drained = new Promise<void>((resolve) => lines.once('close', resolve));
  return Promise.all([exited, drained]).then(([exit]) => ({ ...exit, stderr }));
}

/** Resolves with the first stdout line that matches `pattern` (a bound is the caller's: see `within`). */
export function lineMatching(
  child: ChildProcessWithoutNullStreams,
  pattern: RegExp,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        lines.close();
        resolve(match);
      }
    });
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before printing ${pattern}`)));
  });
}
