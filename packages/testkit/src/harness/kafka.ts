/**
 * A real single-node Kafka broker (combined KRaft broker + controller) for tests and benchmarks, run from
 * Maven Central jars: no Docker, no tarball, no ZooKeeper.
 *
 * ```ts
 * const kafka = await startKafka();
 * try { use(kafka.bootstrap); } finally { await kafka.stop(); }
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_KAFKA_VERSION, type ResolveOptions, resolveKafka } from './kafka/maven.js';
import { freePort, probeApiVersions } from './kafka/probe.js';

export { DEFAULT_KAFKA_VERSION, kafkaCacheDir, type ResolvedKafka, resolveKafka } from './kafka/maven.js';
export { freePort, probeApiVersions } from './kafka/probe.js';

export interface StartKafkaOptions extends ResolveOptions {
  /** The `java` to run (Java 17+). Default `$JAVA_HOME/bin/java`, else `java` on the PATH. */
  readonly java?: string;
  /** Broker heap in MB. Default 512 (the scripts' 1 GB is more than a test needs). */
  readonly heapMb?: number;
  /** How long to wait for the broker to answer ApiVersions. Default 90 s. */
  readonly readyTimeoutMs?: number;
  /** How long a clean shutdown may take before the broker is killed. Default 10 s. */
  readonly stopTimeoutMs?: number;
  /** Extra or overriding `server.properties` entries, e.g. `{ 'message.max.bytes': 2_000_000 }`. */
  readonly brokerConfig?: Readonly<Record<string, string | number | boolean>>;
  /** Keep the temporary data and log directory after `stop()` (for post-mortems). */
  readonly keepWorkDir?: boolean;
}

export interface RestartOptions {
  /** SIGKILL instead of a clean shutdown: acknowledged data then survives only through the page cache. */
  readonly hard?: boolean;
  /** Runs while the broker is down (e.g. to check what clients see then); the restart follows. */
  readonly whileDown?: () => Promise<void>;
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface KafkaBroker {
  /** `127.0.0.1:<port>`, for `bootstrap.servers`. */
  readonly bootstrap: string;
  readonly host: string;
  readonly port: number;
  readonly controllerPort: number;
  /** The Kafka version of the jars. */
  readonly version: string;
  readonly clusterId: string;
  /** Temporary directory with `data/`, `logs/`, `server.properties` and `broker.log`. */
  readonly workDir: string;
  /** The broker's console output (log4j2, WARN and up plus start/stop lines), across restarts. */
  readonly logFile: string;
  /** The resolved classpath, for running Kafka's own tools. */
  readonly classpath: string;
  readonly running: boolean;
  /** Stops the broker (clean shutdown, then SIGKILL after `stopTimeoutMs`) and removes the work dir. */
  stop(): Promise<void>;
  /** Stops and starts the broker on the same ports and data, waiting until it serves again. */
  restart(options?: RestartOptions): Promise<void>;
  /** The last `lines` lines of the broker's output, for failure messages. */
  logTail(lines?: number): string;
  /** Runs a Kafka main class (e.g. `org.apache.kafka.tools.ProducerPerformance`) on the broker's classpath. */
  runTool(mainClass: string, args: readonly string[], options?: { timeoutMs?: number }): Promise<ToolResult>;
}

const LOG4J2_XML = `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="OUT" target="SYSTEM_OUT"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="OUT"/></Root>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Logger name="kafka.server.BrokerServer" level="INFO"/>
  </Loggers>
</Configuration>
`;

function javaCommand(option: string | undefined): string {
  if (option) return option;
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

function serverProperties(
  dir: string,
  port: number,
  controllerPort: number,
  extra: StartKafkaOptions['brokerConfig'],
): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A static single voter: needs no --standalone at format time and works on every 4.x.
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'num.partitions': 1,
    // Adapters create their topics explicitly; a typo must not silently create one.
    'auto.create.topics.enable': false,
    // Single node: every internal topic with one replica, and one partition so first use is quick.
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Default 3 s: every new consumer group would wait that long for its first member.
    'group.initial.rebalance.delay.ms': 0,
    ...extra,
  };
  return `${Object.entries(props)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join('\n')}\n`;
}

/** Resolves the jars (first time), formats a fresh KRaft log dir and starts a broker on free ports. */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[kafka-harness] ${line}\n`));
  const resolved = await resolveKafka({ ...options, log });
  const java = javaCommand(options.java);
  const workDir = await mkdtemp(join(tmpdir(), 'walstream-kafka-'));
  const logFile = join(workDir, 'broker.log');
  const tail: string[] = [];
  const output = createWriteStream(logFile, { flags: 'a' });
  const record = (text: string) => {
    output.write(text);
    for (const line of text.split('\n')) if (line) tail.push(line);
    if (tail.length > 2_000) tail.splice(0, tail.length - 2_000);
  };
  await writeFile(join(workDir, 'log4j2.xml'), LOG4J2_XML);
  // Kafka's Uuid.randomUuid rerolls ids that start with '-': argparse would take them for an option.
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  const log4j = `-Dlog4j2.configurationFile=${join(workDir, 'log4j2.xml')}`;

  let port = 0;
  let controllerPort = 0;
  let child: ChildProcess | undefined;
  // A free port can be taken between probing and binding: retry the whole start on a bind failure.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    controllerPort = await freePort();
    if (controllerPort === port) continue;
    await rm(join(workDir, 'data'), { recursive: true, force: true });
    await writeFile(
      join(workDir, 'server.properties'),
      serverProperties(workDir, port, controllerPort, options.brokerConfig),
    );
    const format = await runJava(
      java,
      resolved.classpath,
      [log4j],
      'kafka.tools.StorageTool',
      ['format', '-t', clusterId, '-c', join(workDir, 'server.properties')],
      60_000,
    );
    if (format.code !== 0) {
      output.end();
      throw new Error(
        `kafka StorageTool format failed (${format.code}):\n${format.stdout}\n${format.stderr}`,
      );
    }
    try {
      child = await launch();
      break;
    } catch (error) {
      const bindFailure = tail.some((line) => line.includes('Address already in use'));
      if (!bindFailure || attempt >= 3) {
        output.end();
        throw error;
      }
      log(`port collision on ${port}/${controllerPort}, retrying`);
    }
  }

  async function launch(): Promise<ChildProcess> {
    const heap = options.heapMb ?? 512;
    const started = Date.now();
    record(`--- starting Kafka ${resolved.version} on 127.0.0.1:${port} (controller ${controllerPort})\n`);
    const proc = spawn(
      java,
      [
        `-Xms${heap}m`,
        `-Xmx${heap}m`,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-Djava.awt.headless=true',
        log4j,
        `-Dkafka.logs.dir=${join(workDir, 'logs')}`,
        '-cp',
        resolved.classpath,
        'kafka.Kafka',
        join(workDir, 'server.properties'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
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
    proc.on('error', (error) => record(`--- cannot start java: ${error.message}\n`));
    const deadline = started + (options.readyTimeoutMs ?? 90_000);
    while (Date.now() < deadline) {
      if (exited !== undefined) break;
      if (await probeApiVersions('127.0.0.1', port, 1_000)) {
        log(`Kafka ${resolved.version} ready on 127.0.0.1:${port} in ${Date.now() - started} ms`);
        return proc;
      }
      await Promise.race([sleep(200), exit]);
    }
    if (exited === undefined) {
      proc.kill('SIGKILL');
      await exit;
      throw new Error(
        `Kafka did not answer ApiVersions on 127.0.0.1:${port} within ${options.readyTimeoutMs ?? 90_000} ms; log tail:\n${tail.slice(-40).join('\n')}`,
      );
    }
    throw new Error(
      `Kafka exited with ${String(exited)} during startup; log tail:\n${tail.slice(-40).join('\n')}`,
    );
  }

  const killOnExit = () => child?.kill('SIGKILL');
  process.on('exit', killOnExit);

  async function halt(hard: boolean): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exit = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    record(`--- stopping the broker (${hard ? 'SIGKILL' : 'SIGTERM'})\n`);
    proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const timeout = options.stopTimeoutMs ?? 10_000;
    const stopped = await Promise.race([exit.then(() => true), sleep(timeout).then(() => false)]);
    if (!stopped) {
      record(`--- no clean shutdown within ${timeout} ms: SIGKILL\n`);
      proc.kill('SIGKILL');
      await exit;
    }
  }

  let stopping: Promise<void> | undefined;
  const broker: KafkaBroker = {
    get bootstrap() {
      return `127.0.0.1:${port}`;
    },
    host: '127.0.0.1',
    get port() {
      return port;
    },
    get controllerPort() {
      return controllerPort;
    },
    version: resolved.version,
    clusterId,
    workDir,
    logFile,
    classpath: resolved.classpath,
    get running() {
      return child !== undefined && child.exitCode === null;
    },
    stop() {
      stopping ??= (async () => {
        await halt(false);
        process.off('exit', killOnExit);
        await new Promise<void>((resolve) => output.end(resolve));
        if (!options.keepWorkDir) await rm(workDir, { recursive: true, force: true });
      })();
      return stopping;
    },
    async restart(restartOptions = {}) {
      if (stopping) throw new Error('the broker was stopped');
      await halt(restartOptions.hard ?? false);
      try {
        await restartOptions.whileDown?.();
      } finally {
        child = await launch();
      }
    },
    logTail(lines = 60) {
      return tail.slice(-lines).join('\n');
    },
    async runTool(mainClass, args, toolOptions = {}) {
      return runJava(
        java,
        resolved.classpath,
        ['-Xmx512m', log4j],
        mainClass,
        args,
        toolOptions.timeoutMs ?? 600_000,
      );
    },
  };
  return broker;
}

function runJava(
  java: string,
  classpath: string,
  jvmArgs: readonly string[],
  mainClass: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(java, [...jvmArgs, '-cp', classpath, mainClass, ...args], {
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
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
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

/** The version `startKafka()` uses unless told otherwise. */
export function defaultKafkaVersion(): string {
  return process.env.WALSTREAM_KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
}

/** Re-exported for callers that only want to warm the Maven cache (e.g. a CI step before the tests). */
export function warmKafkaCache(options: ResolveOptions = {}): Promise<string> {
  return resolveKafka(options).then((resolved) => resolved.cacheDir);
}
