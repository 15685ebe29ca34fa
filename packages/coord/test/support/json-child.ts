import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
// The tsx loader inside the child itself (not the tsx CLI, whose second process a SIGKILL would orphan).
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A child process that speaks JSON lines: one object per stdout line, commands on stdin. */
export class JsonChild {
  readonly process: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<number | null>;
  #stderr = '';
  readonly #waiters = new Set<() => void>();

  constructor(script: string, config: unknown) {
    this.process = spawn(process.execPath, ['--import', tsxLoader, script, JSON.stringify(config)], {
      cwd: root,
      env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.tests.json' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-20_000);
    });
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
    void this.exited.then(() => this.#wake());
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.#stderr += `\n(stdout) ${line}`;
      }
      this.#wake();
    });
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  stderr(): string {
    return this.#stderr;
  }

  send(command: unknown): void {
    if (this.alive) this.process.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** The first line from index `from` on that matches; fails after `timeoutMs` or when the child exits. */
  async waitLine(
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 30_000,
    from = 0,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.slice(from).find(match);
      if (found) return found;
      if (!this.alive) throw new Error(`child exited before ${what}\n${this.#stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms\n${this.#stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
  }

  async kill(): Promise<void> {
    if (this.alive) this.process.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: the graceful stop. Resolves with the exit code. */
  async terminate(): Promise<number | null> {
    if (this.alive) this.process.kill('SIGTERM');
    return this.exited;
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) {
      this.#waiters.delete(wake);
      wake();
    }
  }
}
