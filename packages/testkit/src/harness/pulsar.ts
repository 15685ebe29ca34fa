/**
 * A real Pulsar standalone (broker + one embedded bookie + RocksDB metadata store) for tests and
 * benchmarks, run from Maven Central jars: no Docker, no tarball, no ZooKeeper.
 *
 * ```ts
 * const pulsar = await startPulsar();
 * try { use(pulsar.serviceUrl, pulsar.adminUrl); } finally { await pulsar.stop(); }
 * ```
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ConfigValue,
  JVM_OPENS,
  LOG4J2_XML,
  type PulsarPorts,
  standaloneConfig,
} from './pulsar/config.js';
import { type ResolveOptions, resolvePulsar } from './pulsar/maven.js';
import { probePulsar } from './pulsar/probe.js';
import { defaultJava, openJvmService, runJavaMain, type ToolResult } from './shared/java.js';
import { stderrLog } from './shared/log.js';
import { freePorts } from './shared/ports.js';

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
export { probePulsar } from './pulsar/probe.js';
export type { ToolResult } from './shared/java.js';
export { freePort, freePorts } from './shared/ports.js';

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

export function javaCommand(option?: string): string {
  return option || process.env.WALSTREAM_JAVA || defaultJava();
}

/** Resolves the jars (first time only), then starts a standalone on free loopback ports in a temp dir. */
export async function startPulsar(options: StartPulsarOptions = {}): Promise<PulsarBroker> {
  const log = options.log ?? stderrLog('pulsar-harness');
  const resolved = await resolvePulsar('broker', { ...options, log });
  const java = javaCommand(options.java);
  const service = await openJvmService({
    name: 'Pulsar',
    role: 'the standalone',
    java,
    workDirPrefix: 'walstream-pulsar-',
    logFileName: 'pulsar.log',
    log4j2: LOG4J2_XML,
    stopTimeoutMs: options.stopTimeoutMs ?? 30_000,
    keepWorkDir: options.keepWorkDir,
  });
  const { workDir, logFile } = service;
  const dataDir = join(workDir, 'data');

  let ports: PulsarPorts = { broker: 0, web: 0, bookie: 0 };
  // A free port can be taken between probing and binding: retry the whole start on a bind failure.
  for (let attempt = 1; ; attempt++) {
    const [broker, web, bookie] = await freePorts(3);
    ports = { broker: broker!, web: web!, bookie: bookie! };
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(join(dataDir, 'metadata'), { recursive: true });
    await mkdir(join(dataDir, 'bookkeeper'), { recursive: true });
    await writeFile(join(workDir, 'standalone.conf'), standaloneConfig(ports, options.brokerConfig));
    try {
      await launch();
      break;
    } catch (error) {
      if (!service.logMatches(/Address already in use|BindException/) || attempt >= 3) {
        await service.stop(true);
        throw error;
      }
      log(`port collision on ${JSON.stringify(ports)}, retrying`);
    }
  }

  async function launch(): Promise<void> {
    const adminUrl = `http://127.0.0.1:${ports.web}`;
    service.record(`--- starting Pulsar ${resolved.version} standalone: ${JSON.stringify(ports)}\n`);
    const readyMs = await service.start({
      args: [
        '-Xms256m',
        `-Xmx${options.heapMb ?? 1024}m`,
        `-XX:MaxDirectMemorySize=${options.directMemoryMb ?? 512}m`,
        '-XX:+UseG1GC',
        '-Djava.net.preferIPv4Stack=true',
        '-Dio.netty.tryReflectionSetAccessible=true',
        '-Djava.awt.headless=true',
        ...JVM_OPENS,
        service.log4j2Option,
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
      cwd: workDir,
      probe: () => probePulsar(adminUrl, 5_000),
      pollMs: 500,
      readyTimeoutMs: options.readyTimeoutMs ?? 180_000,
      readiness: `pass its health check on ${adminUrl}`,
    });
    log(`Pulsar ${resolved.version} ready on 127.0.0.1:${ports.broker} in ${readyMs} ms`);
  }

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
      return service.running;
    },
    stop(stopOptions = {}) {
      return service.stop(stopOptions.hard ?? false);
    },
    async restart(restartOptions = {}) {
      if (service.stopped) throw new Error('the standalone was stopped');
      await service.halt(restartOptions.hard ?? false);
      await launch();
    },
    logTail(lines = 80) {
      return service.logTail(lines);
    },
    runJava(runOptions) {
      return runJava(java, runOptions.classpath ?? resolved.classpath, runOptions);
    },
  };
}

/** Runs one JVM to completion and collects its output (Pulsar's perf tool, a `.java` test helper). */
export function runJava(java: string, classpath: string, options: RunJavaOptions): Promise<ToolResult> {
  return runJavaMain(java, {
    classpath,
    main: options.main,
    args: options.args,
    jvmArgs: [...(options.jvmArgs ?? ['-Xmx512m']), ...JVM_OPENS],
    timeoutMs: options.timeoutMs ?? 600_000,
  });
}

/** Resolves the broker jars without starting anything (e.g. a CI step that warms the Maven cache). */
export function warmPulsarCache(options: ResolveOptions = {}): Promise<string> {
  return resolvePulsar('broker', options).then((resolved) => resolved.cacheDir);
}
