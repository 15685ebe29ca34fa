/**
 * A real single-node Kafka broker (combined KRaft broker + controller) for tests and benchmarks, run from
 * Maven Central jars: no Docker, no tarball, no ZooKeeper.
 *
 * ```ts
 * const kafka = await startKafka();
 * try { use(kafka.bootstrap); } finally { await kafka.stop(); }
 * ```
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_KAFKA_VERSION, type ResolveOptions, resolveKafka } from './kafka/maven.js';
import { probeApiVersions } from './kafka/probe.js';
import { consoleLog4j2, propertiesText } from './shared/config.js';
import { defaultJava, openJvmService, runJavaMain, type ToolResult } from './shared/java.js';
import { stderrLog } from './shared/log.js';
import { freePorts } from './shared/ports.js';

export { DEFAULT_KAFKA_VERSION, kafkaCacheDir, type ResolvedKafka, resolveKafka } from './kafka/maven.js';
export { probeApiVersions } from './kafka/probe.js';
export type { ToolResult } from './shared/java.js';
export { freePort } from './shared/ports.js';

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

const LOG4J2_XML = consoleLog4j2('[%d] %p %m (%c)%n', [
  'kafka.server.KafkaRaftServer',
  'kafka.server.BrokerServer',
]);

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
  return propertiesText(props);
}

/** Resolves the jars (first time), formats a fresh KRaft log dir and starts a broker on free ports. */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const log = options.log ?? stderrLog('kafka-harness');
  const resolved = await resolveKafka({ ...options, log });
  const java = options.java || defaultJava();
  const service = await openJvmService({
    name: 'Kafka',
    role: 'the broker',
    java,
    workDirPrefix: 'walstream-kafka-',
    logFileName: 'broker.log',
    log4j2: LOG4J2_XML,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
    keepWorkDir: options.keepWorkDir,
  });
  const { workDir, logFile, log4j2Option: log4j } = service;
  // Kafka's Uuid.randomUuid rerolls ids that start with '-': argparse would take them for an option.
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');

  let port = 0;
  let controllerPort = 0;
  // A free port can be taken between probing and binding: retry the whole start on a bind failure.
  for (let attempt = 1; ; attempt++) {
    const [listenerPort, quorumPort] = await freePorts(2);
    port = listenerPort!;
    controllerPort = quorumPort!;
    await rm(join(workDir, 'data'), { recursive: true, force: true });
    await writeFile(
      join(workDir, 'server.properties'),
      serverProperties(workDir, port, controllerPort, options.brokerConfig),
    );
    const format = await runJavaMain(java, {
      classpath: resolved.classpath,
      jvmArgs: [log4j],
      main: 'kafka.tools.StorageTool',
      args: ['format', '-t', clusterId, '-c', join(workDir, 'server.properties')],
      timeoutMs: 60_000,
    });
    if (format.code !== 0) {
      await service.stop(true);
      throw new Error(
        `kafka StorageTool format failed (${format.code}):\n${format.stdout}\n${format.stderr}`,
      );
    }
    try {
      await launch();
      break;
    } catch (error) {
      if (!service.logMatches(/Address already in use/) || attempt >= 3) {
        await service.stop(true);
        throw error;
      }
      log(`port collision on ${port}/${controllerPort}, retrying`);
    }
  }

  async function launch(): Promise<void> {
    const heap = options.heapMb ?? 512;
    service.record(
      `--- starting Kafka ${resolved.version} on 127.0.0.1:${port} (controller ${controllerPort})\n`,
    );
    const readyMs = await service.start({
      args: [
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
      probe: () => probeApiVersions('127.0.0.1', port, 1_000),
      pollMs: 200,
      readyTimeoutMs: options.readyTimeoutMs ?? 90_000,
      readiness: `answer ApiVersions on 127.0.0.1:${port}`,
    });
    log(`Kafka ${resolved.version} ready on 127.0.0.1:${port} in ${readyMs} ms`);
  }

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
      return service.running;
    },
    stop() {
      return service.stop(false);
    },
    async restart(restartOptions = {}) {
      if (service.stopped) throw new Error('the broker was stopped');
      await service.halt(restartOptions.hard ?? false);
      try {
        await restartOptions.whileDown?.();
      } finally {
        await launch();
      }
    },
    logTail(lines = 60) {
      return service.logTail(lines);
    },
    runTool(mainClass, args, toolOptions = {}) {
      return runJavaMain(java, {
        classpath: resolved.classpath,
        jvmArgs: ['-Xmx512m', log4j],
        main: mainClass,
        args,
        timeoutMs: toolOptions.timeoutMs ?? 600_000,
      });
    },
  };
  return broker;
}

/** The version `startKafka()` uses unless told otherwise. */
export function defaultKafkaVersion(): string {
  return process.env.WALSTREAM_KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
}

/** Re-exported for callers that only want to warm the Maven cache (e.g. a CI step before the tests). */
export function warmKafkaCache(options: ResolveOptions = {}): Promise<string> {
  return resolveKafka(options).then((resolved) => resolved.cacheDir);
}
