/**
 * A real single-member etcd for tests and benchmarks: Debian's `etcd-server` on loopback, with free ports
 * and a temporary data dir. When the binary is missing and the process runs as root, the package is
 * installed with apt-get first; otherwise the start fails with an error that names the package.
 *
 * ```ts
 * const etcd = await startEtcd();
 * try { use(etcd.endpoints); } finally { await etcd.stop(); }
 * ```
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DEFAULT_ETCD_BINARY, etcdVersion, resolveEtcdBinary } from './etcd/install.js';
import { probeEtcdHealth } from './etcd/probe.js';
import { openJvmService } from './shared/java.js';
import { stderrLog } from './shared/log.js';
import { freePorts } from './shared/ports.js';

export { DEFAULT_ETCD_BINARY, ETCD_PACKAGE } from './etcd/install.js';
export { probeEtcdHealth } from './etcd/probe.js';
export { freePort } from './shared/ports.js';

export interface StartEtcdOptions {
  /**
   * The etcd server binary. Default `$WALSTREAM_ETCD_BIN`, else Debian's `/usr/bin/etcd` (which is
   * installed when missing and the user is root; a binary given here is never installed).
   */
  readonly binary?: string;
  /** Install `etcd-server` with apt-get when the default binary is missing and the user is root. Default true. */
  readonly install?: boolean;
  /** How long to wait for `/health` to answer true. Default 30 s. */
  readonly readyTimeoutMs?: number;
  /** How long a clean shutdown may take before etcd is killed. Default 10 s. */
  readonly stopTimeoutMs?: number;
  /** Extra command-line flags, e.g. `['--quota-backend-bytes=…']`; they come after the harness's own. */
  readonly extraArgs?: readonly string[];
  /** Keep the data dir and log after `stop()` (for post-mortems). */
  readonly keepWorkDir?: boolean;
  /** Progress lines (install, ready, stop). Default: stderr, prefixed `[etcd-harness]`. */
  readonly log?: (line: string) => void;
}

export interface EtcdRestartOptions {
  /** SIGKILL instead of a clean shutdown. */
  readonly hard?: boolean;
  /** Runs while etcd is down (e.g. to check what clients see then); the restart follows. */
  readonly whileDown?: () => Promise<void>;
}

export interface EtcdServer {
  /** Client URLs, `['http://127.0.0.1:<port>']`: what an etcd client takes as its hosts. */
  readonly endpoints: readonly string[];
  readonly clientPort: number;
  readonly peerPort: number;
  /** From `etcd --version`, e.g. `3.4.23`. */
  readonly version: string;
  /** Temporary directory with `data/` and `etcd.log`. */
  readonly workDir: string;
  /** etcd's own output (warnings and up, plus the harness's start/stop lines), across restarts. */
  readonly logFile: string;
  readonly running: boolean;
  /** Stops etcd (SIGTERM, SIGKILL after `stopTimeoutMs`) and removes the work dir. Later calls share the first. */
  stop(): Promise<void>;
  /** Stops and starts etcd on the same ports and data, waiting until it is healthy again. */
  restart(options?: EtcdRestartOptions): Promise<void>;
  /** The last `lines` lines of etcd's output, for failure messages. */
  logTail(lines?: number): string;
}

/** Starts one etcd member on free loopback ports and resolves once it reports healthy. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const log = options.log ?? stderrLog('etcd-harness');
  const binary = await resolveEtcdBinary({
    given: options.binary ?? process.env.WALSTREAM_ETCD_BIN,
    defaultBinary: DEFAULT_ETCD_BINARY,
    root: process.getuid?.() === 0,
    install: options.install !== false,
    log,
  });
  const version = await etcdVersion(binary);
  // The service helper is not Java-specific: it spawns `java` (here, etcd), records its output, probes
  // readiness and stops it with a deadline. etcd ignores the log4j2 file it writes.
  const service = await openJvmService({
    name: 'etcd',
    role: 'etcd',
    java: binary,
    workDirPrefix: 'walstream-etcd-',
    logFileName: 'etcd.log',
    log4j2: '',
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
    keepWorkDir: options.keepWorkDir,
  });
  const { workDir, logFile } = service;
  const clusterToken = `walstream-${randomBytes(6).toString('hex')}`;
  let clientPort = 0;
  let peerPort = 0;

  async function launch(): Promise<void> {
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    service.record(`--- starting etcd ${version} on ${client} (peer ${peerPort})\n`);
    const readyMs = await service.start({
      args: [
        '--name=walstream',
        `--data-dir=${join(workDir, 'data')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=walstream=${peer}`,
        // Only read when the data dir is new; a restart keeps the member and its data.
        '--initial-cluster-state=new',
        `--initial-cluster-token=${clusterToken}`,
        '--logger=zap',
        '--log-outputs=stderr',
        '--log-level=warn',
        ...(options.extraArgs ?? []),
      ],
      probe: () => probeEtcdHealth(client, 1_000),
      pollMs: 100,
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      readiness: `report healthy on ${client}/health`,
    });
    log(`etcd ${version} ready on ${client} in ${readyMs} ms`);
  }

  // A free port can be taken between probing and binding: retry the start with new ports.
  for (let attempt = 1; ; attempt++) {
    [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    try {
      await launch();
      break;
    } catch (error) {
      if (!service.logMatches(/address already in use/i) || attempt >= 3) {
        await service.stop(true);
        throw error;
      }
      log(`port collision on ${clientPort}/${peerPort}, retrying`);
    }
  }

  return {
    get endpoints() {
      return [`http://127.0.0.1:${clientPort}`];
    },
    get clientPort() {
      return clientPort;
    },
    get peerPort() {
      return peerPort;
    },
    version,
    workDir,
    logFile,
    get running() {
      return service.running;
    },
    stop() {
      return service.stop(false);
    },
    async restart(restartOptions = {}) {
      if (service.stopped) throw new Error('etcd was stopped');
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
  };
}
