import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NodeProcessConfig, NodeProcessStats } from './node-process.ts';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const script = fileURLToPath(new URL('./node-process.ts', import.meta.url));
// The tsx loader in the node process itself (not the tsx CLI, which runs a second process that a SIGKILL
// of the first would orphan).
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A StreamingNode running in a child process (see node-process.ts). */
export interface NodeChild {
  readonly address: string;
  readonly nodeId: bigint;
  readonly process: ChildProcess;
  /** Its flow-control figures and heap, asked over stdin. */
  stats(): Promise<NodeProcessStats>;
  /** Graceful close; resolves with the exit code. */
  close(): Promise<number | null>;
  /** SIGKILL; resolves once it is gone. */
  kill(): Promise<void>;
  /** What it wrote on stderr, for failure messages. */
  stderr(): string;
}

/** Starts a node process and waits (bounded) for the line that names its address. */
export async function spawnNode(config: NodeProcessConfig, timeoutMs = 60_000): Promise<NodeChild> {
  // NODE_PROCESS_EXEC_ARGS: more node flags for the node process (`--cpu-prof`, say, to profile a bench).
  const extra = process.env.NODE_PROCESS_EXEC_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(
    process.execPath,
    ['--expose-gc', ...extra, '--import', tsxLoader, script, JSON.stringify(config)],
    {
      cwd: root,
      env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.tests.json' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines: Interface = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = (what: string, bound: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node process: no ${what} within ${bound} ms\n${stderr}`)),
        bound,
      );
      const onExit = (code: number | null) =>
        reject(new Error(`node process exited ${code} before ${what}\n${stderr}`));
      child.once('exit', onExit);
      waiting.push((line) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(line);
      });
    });
  const hello = JSON.parse(await nextLine('address', timeoutMs)) as { address: string; nodeId: string };
  return {
    address: hello.address,
    nodeId: BigInt(hello.nodeId),
    process: child,
    async stats() {
      const answer = nextLine('stats', 10_000);
      child.stdin!.write(`${JSON.stringify({ cmd: 'stats' })}\n`);
      return (JSON.parse(await answer) as { stats: NodeProcessStats }).stats;
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null)
        child.stdin!.write(`${JSON.stringify({ cmd: 'close' })}\n`);
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stderr: () => stderr,
  };
}
