/**
 * A real Pulsar standalone (broker + one embedded bookie + RocksDB metadata store) for tests and
 * benchmarks, run from Maven Central jars: no Docker, no tarball, no ZooKeeper.
 *
 * ```ts
 * const pulsar = await startPulsar();
 * try { use(pulsar.serviceUrl, pulsar.adminUrl); } finally { await pulsar.stop(); }
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ConfigValue,
  JVM_OPENS,
  LOG4J2_XML,
  type PulsarPorts,
  standaloneConfig,
} from './pulsar/config.js';
import { type ResolveOptions, resolvePulsar } from './pulsar/maven.js';
import { freePorts, probePulsar } from './pulsar/probe.js';

export { type PulsarPorts, standaloneConfig } from './pulsar/config.js';
export {
  DEFAULT_PULSAR_PERF_VERSION,
  DEFAULT_PULSAR_VERSION,
  defaultPulsarVersion,
  type PulsarArtifact,
  pulsarCacheDir,
  type ResolvedPulsar,
  type ResolveOptions,
  resolvePulsar,
} from './pulsar/maven.js';
export { freePort, freePorts, probePulsar } from './pulsar/probe.js';

export interface StartPulsarOptions extends ResolveOptions {
  /** The `java` to run (Java 17+). Default `$WALSTREAM_JAVA`, else `$JAVA_HOME/bin/java`, else `java`. */
  readonly java?: string;
  /** Broker heap in MB. Default 1024 (the shipped pulsar_env.sh asks for 2 GB). */
  readonly heapMb?: number;
  /** Direct memory in MB (netty buffers, bookie caches). Default 512. */
  readonly directMemoryMb?: number;
  /** How long to wait until the broker passes its health check. Default 180 s. */
  readonly readyTimeoutMs?: number;
  /** How long a clean shutdown may take before the JVM is killed. Default 30 s. */
  readonly stopTimeoutMs?: number;
  /** Extra or overriding `standalone.conf` entries, e.g. `{ maxMessageSize: 1048576 }`. */
  readonly brokerConfig?: Readonly<Record<string, ConfigValue>>;
  /** Keep the temporary data and log directory after `stop()` (for post-mortems). */
  readonly keepWorkDir?: boolean;
}

export interface RestartOptions {
  /** SIGKILL instead of a clean shutdown: what survives is what the bookie journal fsynced. */
  readonly hard?: boolean;
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunJavaOptions {
  /** A main class, or a `.java` source file (Java's single-file launcher compiles it in memory). */
  readonly main: string;
  readonly args?: readonly string[];
  /** Default: the broker's classpath (it holds Pulsar's Java client too). */
  readonly classpath?: string;
  readonly jvmArgs?: readonly string[];
  /** Default 10 minutes; the JVM is killed after it. */
  readonly timeoutMs?: number;
}

export interface PulsarBroker {
  /** `pulsar://127.0.0.1:<port>`, the binary protocol endpoint. */
  readonly serviceUrl: string;
  /** `http://127.0.0.1:<port>`, the admin REST endpoint. */
  readonly adminUrl: string;
  readonly host: string;
  readonly ports: PulsarPorts;
  /** The Pulsar version of the jars. */
  readonly version: string;
  /** Temporary directory with `data/`, `standalone.conf`, `log4j2.xml` and `pulsar.log`. */
  readonly workDir: string;
  /** The JVM's console output, across restarts. */
  readonly logFile: string;
  /** The resolved broker classpath. */
  readonly classpath: string;
  /** The `java` command the broker runs on. */
  readonly java: string;
  readonly running: boolean;
  /**
   * Stops the broker (clean shutdown, SIGKILL after `stopTimeoutMs`; at once with `hard`, fine when the
   * data is thrown away anyway) and removes the work dir.
   */
  stop(options?: { readonly hard?: boolean }): Promise<void>;
  /** Stops and starts the broker on the same ports and data, waiting until it serves again. */
  restart(options?: RestartOptions): Promise<void>;
  /** The last `lines` lines of the broker's output, for failure messages. */
  logTail(lines?: number): string;
  /** Runs a JVM next to the broker (Pulsar's tools, a `.java` helper) and collects its output. */
  runJava(options: RunJavaOptions): Promise<ToolResult>;
}

const TAIL_LINES = 2_000;

export function javaCommand(option?: string): string {
  if (option) return option;
  if (process.env.WALSTREAM_JAVA) return process.env.WALSTREAM_JAVA;
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Resolves the jars (first time only), then starts a standalone on free loopback ports in a temp dir. */
export async function startPulsar(options: StartPulsarOptions = {}): Promise<PulsarBroker> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[pulsar-harness] ${line}\n`));
  const resolved = await resolvePulsar('broker', { ...options, log });
  const java = javaCommand(options.java);
  const workDir = await mkdtemp(join(tmpdir(), 'walstream-pulsar-'));
  const dataDir = join(workDir, 'data');
  const logFile = join(workDir, 'pulsar.log');
  const tail: string[] = [];
  const output = createWriteStream(logFile, { flags: 'a' });
  let partialLine = '';
  const record = (text: string) => {
    output.write(text);
    const lines = (partialLine + text).split('\n');
    partialLine = lines.pop() ?? '';
    for (const line of lines) if (line) tail.push(line);
    if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
  };
  await writeFile(join(workDir, 'log4j2.xml'), LOG4J2_XML);

  let ports: PulsarPorts = { broker: 0, web: 0, bookie: 0 };
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  // A free port can be taken between probing and binding: retry the whole start on a bind failure.
  for (let attempt = 1; ; attempt++) {
    const [broker, web, bookie] = await freePorts(3);
    ports = { broker: broker!, web: web!, bookie: bookie! };
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(join(dataDir, 'metadata'), { recursive: true });
    await mkdir(join(dataDir, 'bookkeeper'), { recursive: true });
    await writeFile(join(workDir, 'standalone.conf'), standaloneConfig(ports, options.brokerConfig));
    try {
      child = await launch();
      break;
    } catch (error) {
      const bindFailure = tail.some((line) => /Address already in use|BindException/.test(line));
      if (!bindFailure || attempt >= 3) {
        process.off('exit', killOnExit);
        await new Promise<void>((resolve) => output.end(resolve));
        if (!options.keepWorkDir) await rm(workDir, { recursive: true, force: true });
        throw error;
      }
      log(`port collision on ${JSON.stringify(ports)}, retrying`);
    }
  }

  async function launch(): Promise<ChildProcess> {
    const started = Date.now();
    const readyTimeout = options.readyTimeoutMs ?? 180_000;
    record(`--- starting Pulsar ${resolved.version} standalone: ${JSON.stringify(ports)}\n`);
    const proc = spawn(
      java,
      [
        '-Xms256m',
        `-Xmx${options.heapMb ?? 1024}m`,
        `-XX:MaxDirectMemorySize=${options.directMemoryMb ?? 512}m`,
        '-XX:+UseG1GC',
        '-Djava.net.preferIPv4Stack=true',
        '-Dio.netty.tryReflectionSetAccessible=true',
        '-Djava.awt.headless=true',
        ...JVM_OPENS,
        `-Dlog4j2.configurationFile=${join(workDir, 'log4j2.xml')}`,
        `-Dpulsar.log.dir=${join(workDir, 'logs')}`,
        '-cp',
        resolved.classpath,
        'org.apache.pulsar.PulsarStandaloneStarter',
        '--config',
        join(workDir, 'standalone.conf'),
        '--no-functions-worker',
        '--no-stream-storage',
        '--advertised-address',
        '127.0.0.1',
        '--metadata-dir',
        join(dataDir, 'metadata'),
        '--bookkeeper-dir',
        join(dataDir, 'bookkeeper'),
        '--bookkeeper-port',
        String(ports.bookie),
      ],
      // The starter resolves relative defaults (conf/, data/) against its working directory.
      { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (chunk: Buffer) => record(chunk.toString('utf8')));
    proc.stderr?.on('data', (chunk: Buffer) => record(chunk.toString('utf8')));
    let exited: number | null | undefined;
    const exit = new Promise<void>((resolve) =>
      proc.on('exit', (code) => {
        exited = code;
        resolve();
      }),
    );
    proc.on('error', (error) => record(`--- cannot start ${java}: ${error.message}\n`));
    const adminUrl = `http://127.0.0.1:${ports.web}`;
    const deadline = started + readyTimeout;
    while (Date.now() < deadline && exited === undefined) {
      if (await probePulsar(adminUrl, 5_000)) {
        log(`Pulsar ${resolved.version} ready on 127.0.0.1:${ports.broker} in ${Date.now() - started} ms`);
        return proc;
      }
      // Readiness polling only: nothing's correctness depends on this interval.
      await Promise.race([sleep(500, undefined, { ref: false }), exit]);
    }
    if (exited === undefined) {
      proc.kill('SIGKILL');
      await exit;
      throw new Error(
        `Pulsar did not pass its health check on ${adminUrl} within ${readyTimeout} ms; log tail:\n${tail.slice(-40).join('\n')}`,
      );
    }
    throw new Error(
      `Pulsar exited with ${String(exited)} during startup; log tail:\n${tail.slice(-40).join('\n')}`,
    );
  }

  async function halt(hard: boolean): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exit = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    record(`--- stopping the standalone (${hard ? 'SIGKILL' : 'SIGTERM'})\n`);
    proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const timeout = options.stopTimeoutMs ?? 30_000;
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
    get serviceUrl() {
      return `pulsar://127.0.0.1:${ports.broker}`;
    },
    get adminUrl() {
      return `http://127.0.0.1:${ports.web}`;
    },
    host: '127.0.0.1',
    get ports() {
      return ports;
    },
    version: resolved.version,
    workDir,
    logFile,
    classpath: resolved.classpath,
    java,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        await halt(stopOptions.hard ?? false);
        process.off('exit', killOnExit);
        await new Promise<void>((resolve) => output.end(resolve));
        if (!options.keepWorkDir) await rm(workDir, { recursive: true, force: true });
      })();
      return stopping;
    },
    async restart(restartOptions = {}) {
      if (stopping) throw new Error('the standalone was stopped');
      await halt(restartOptions.hard ?? false);
      child = await launch();
    },
    logTail(lines = 80) {
      return tail.slice(-lines).join('\n');
    },
    runJava(runOptions) {
      return runJava(java, runOptions.classpath ?? resolved.classpath, runOptions);
    },
  };
}

/** Runs one JVM to completion and collects its output (Pulsar's perf tool, a `.java` test helper). */
export function runJava(java: string, classpath: string, options: RunJavaOptions): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      java,
      [
        ...(options.jvmArgs ?? ['-Xmx512m']),
        ...JVM_OPENS,
        '-cp',
        classpath,
        options.main,
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
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

/** Resolves the broker jars without starting anything (e.g. a CI step that warms the Maven cache). */
export function warmPulsarCache(options: ResolveOptions = {}): Promise<string> {
  return resolvePulsar('broker', options).then((resolved) => resolved.cacheDir);
}
