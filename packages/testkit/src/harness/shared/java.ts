import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `$JAVA_HOME/bin/java` when `JAVA_HOME` is set, else `java` on the PATH. */
export function defaultJava(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

export interface JavaMain {
  readonly classpath: string;
  /** A main class, or a `.java` source file (Java's single-file launcher compiles it in memory). */
  readonly main: string;
  readonly args?: readonly string[];
  readonly jvmArgs?: readonly string[];
  /** The JVM is killed after it. */
  readonly timeoutMs: number;
}

/** Runs one JVM to completion and collects its output. */
export function runJavaMain(java: string, run: JavaMain): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(java, [...(run.jvmArgs ?? []), '-cp', run.classpath, run.main, ...(run.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), run.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${java}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface JvmServiceOptions {
  /** The product, for startup errors: `Kafka`, `Pulsar`. */
  readonly name: string;
  /** What is stopped, for the log and errors: `the broker`. */
  readonly role: string;
  readonly java: string;
  /** Prefix of the temporary work dir, e.g. `walstream-kafka-`. */
  readonly workDirPrefix: string;
  /** The file in the work dir that receives the JVM's stdout and stderr, across restarts. */
  readonly logFileName: string;
  /** Written to `log4j2.xml` in the work dir; see {@link JvmService.log4j2Option}. */
  readonly log4j2: string;
  /** How long a clean shutdown may take before SIGKILL. */
  readonly stopTimeoutMs: number;
  /** Keep the work dir after `stop()` (for post-mortems). */
  readonly keepWorkDir?: boolean;
}

export interface JvmLaunch {
  readonly args: readonly string[];
  readonly cwd?: string;
  /**
   * True once the service answers for real. A log line is not enough: it can be printed by a JVM that
   * then fails to bind or register.
   */
  readonly probe: () => Promise<boolean>;
  readonly pollMs: number;
  readonly readyTimeoutMs: number;
  /** What the timeout error says was not achieved: `answer ApiVersions on 127.0.0.1:9092`. */
  readonly readiness: string;
}

/** One long-running JVM that can be stopped and started again on the same work dir and log. */
export interface JvmService {
  readonly workDir: string;
  readonly logFile: string;
  /** `-Dlog4j2.configurationFile=...` for the JVMs that should log like the service. */
  readonly log4j2Option: string;
  readonly running: boolean;
  /** `stop()` was called: the service cannot start again. */
  readonly stopped: boolean;
  /** Appends a harness line (`--- starting ...`) to the log, between the JVM's own lines. */
  record(text: string): void;
  logTail(lines: number): string;
  /** Whether any kept log line matches, e.g. a bind failure that calls for new ports. */
  logMatches(pattern: RegExp): boolean;
  /**
   * Spawns the JVM and resolves, with the milliseconds it took, once `probe` passes. Rejects with the
   * log tail when the JVM exits first or the deadline passes (the JVM is then killed).
   */
  start(launch: JvmLaunch): Promise<number>;
  /** SIGTERM (SIGKILL with `hard`), then SIGKILL after `stopTimeoutMs`. */
  halt(hard: boolean): Promise<void>;
  /** Halts, closes the log and removes the work dir (unless `keepWorkDir`). Later calls share the first. */
  stop(hard: boolean): Promise<void>;
}

const TAIL_LINES = 2_000;
const ERROR_TAIL_LINES = 40;

/** Creates the work dir and the log; `start()` launches the JVM. */
export async function openJvmService(options: JvmServiceOptions): Promise<JvmService> {
  const { name, java } = options;
  const workDir = await mkdtemp(join(tmpdir(), options.workDirPrefix));
  const logFile = join(workDir, options.logFileName);
  const log4j2File = join(workDir, 'log4j2.xml');
  await writeFile(log4j2File, options.log4j2);
  const tail: string[] = [];
  const output = createWriteStream(logFile, { flags: 'a' });
  const keep = (lines: readonly string[]) => {
    for (const line of lines) if (line) tail.push(line);
    if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
  };
  const record = (text: string) => {
    output.write(text);
    keep(text.split('\n'));
  };
  // Chunks end anywhere in a line: each stream holds back its unfinished line, so stdout and stderr
  // do not splice into one tail line.
  const recordStream = () => {
    let pending = '';
    return (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.write(text);
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      keep(lines);
    };
  };
  const logTail = (lines: number) => tail.slice(-lines).join('\n');

  let child: ChildProcess | undefined;
  let launching: ChildProcess | undefined;
  // A test runner that exits without stopping the service must not leave a JVM holding ports.
  const killOnExit = () => (child ?? launching)?.kill('SIGKILL');
  process.on('exit', killOnExit);

  async function start(launch: JvmLaunch): Promise<number> {
    const started = Date.now();
    const proc = spawn(java, launch.args, { cwd: launch.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    launching = proc;
    proc.stdout.on('data', recordStream());
    proc.stderr.on('data', recordStream());
    let exited: number | null | undefined;
    const exit = new Promise<void>((resolve) =>
      proc.on('exit', (code) => {
        exited = code;
        resolve();
      }),
    );
    proc.on('error', (error) => record(`--- cannot start ${java}: ${error.message}\n`));
    try {
      const deadline = started + launch.readyTimeoutMs;
      while (Date.now() < deadline && exited === undefined) {
        if (await launch.probe()) {
          child = proc;
          return Date.now() - started;
        }
        // Readiness polling only: nothing's correctness depends on this interval.
        await Promise.race([sleep(launch.pollMs, undefined, { ref: false }), exit]);
      }
    } finally {
      launching = undefined;
    }
    if (exited === undefined) {
      proc.kill('SIGKILL');
      await exit;
      throw new Error(
        `${name} did not ${launch.readiness} within ${launch.readyTimeoutMs} ms; log tail:\n${logTail(ERROR_TAIL_LINES)}`,
      );
    }
    throw new Error(
      `${name} exited with ${String(exited)} during startup; log tail:\n${logTail(ERROR_TAIL_LINES)}`,
    );
  }

  async function halt(hard: boolean): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exit = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    record(`--- stopping ${options.role} (${hard ? 'SIGKILL' : 'SIGTERM'})\n`);
    proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const timeout = options.stopTimeoutMs;
    // Cancelled once the JVM exits, so no timer keeps the caller's process alive.
    const timer = new AbortController();
    const stopped = await Promise.race([
      exit.then(() => true),
      sleep(timeout, undefined, { signal: timer.signal }).then(
        () => false,
        () => true,
      ),
    ]);
    timer.abort();
    if (!stopped) {
      record(`--- no clean shutdown within ${timeout} ms: SIGKILL\n`);
      proc.kill('SIGKILL');
      await exit;
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    workDir,
    logFile,
    log4j2Option: `-Dlog4j2.configurationFile=${log4j2File}`,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    get stopped() {
      return stopping !== undefined;
    },
    record,
    logTail,
    logMatches: (pattern) => tail.some((line) => pattern.test(line)),
    start(launch) {
      if (stopping) return Promise.reject(new Error(`${options.role} was stopped`));
      return start(launch);
    },
    halt,
    stop(hard) {
      stopping ??= (async () => {
        await halt(hard);
        process.off('exit', killOnExit);
        await new Promise<void>((resolve) => output.end(resolve));
        if (!options.keepWorkDir) await rm(workDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
