import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repository = fileURLToPath(new URL('../../../../', import.meta.url));

/** `walstream <args>` from the sources, in a process of its own. */
export function walstream(
  args: readonly string[],
  env: Record<string, string> = {},
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', 'packages/cli/src/bin.ts', ...args], {
    cwd: repository,
    env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.tests.json', ...env },
  });
}

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `walstream <args>` with `input` on stdin to the end, within `timeoutMs`. */
export async function run(args: readonly string[], input = '', timeoutMs = 30_000): Promise<Finished> {
  const child = walstream(args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    const bound = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`walstream ${args.join(' ')} did not end in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(bound);
      // The streams may still hold the last chunks when 'exit' fires.
      child.stdout.once('close', () => resolve({ code, stdout, stderr }));
      if (child.stdout.closed) resolve({ code, stdout, stderr });
    });
  });
}

/** A `walstream up` in its own process, once it printed its coordinator address. */
export async function startUp(
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<{ child: ChildProcessWithoutNullStreams; address: string; lines: string[] }> {
  const child = walstream(['up', ...args]);
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const address = await new Promise<string>((resolve, reject) => {
    const bound = setTimeout(
      () => reject(new Error(`walstream up not ready in ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.once('exit', (code) => reject(new Error(`walstream up exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const match = /^coordinator: (\S+)/.exec(line);
      if (match) {
        clearTimeout(bound);
        resolve(match[1]!);
      }
    });
  });
  return { child, address, lines };
}

/** Resolves with the exit code once `child` exits (at once if it has). */
export function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
