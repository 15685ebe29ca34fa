import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';

/** The Debian package that ships `/usr/bin/etcd`. */
export const ETCD_PACKAGE = 'etcd-server';
/** Where Debian's package puts the server. */
export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

interface CommandResult {
  readonly code: number | null;
  readonly output: string;
}

function run(command: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}\ncannot run ${command}: ${error.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `3.4.23` from `etcd --version`, or `unknown`. */
export async function etcdVersion(binary: string): Promise<string> {
  const { output } = await run(binary, ['--version'], 10_000);
  return /etcd Version:\s*(\S+)/.exec(output)?.[1] ?? 'unknown';
}

// One install per process, however many harnesses ask at once.
let installing: Promise<void> | undefined;

/**
 * Installs Debian's `etcd-server` with apt-get (as root only). A fresh container often has no package
 * lists, so a failed install is retried once after `apt-get update`. Both wait for the dpkg lock rather
 * than fail when another process (a second test project, an unattended upgrade) holds it.
 */
export function installEtcd(log: (line: string) => void): Promise<void> {
  installing ??= (async () => {
    const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];
    const install = ['install', '-y', '--no-install-recommends', ...lockWait, ETCD_PACKAGE];
    log(`${DEFAULT_ETCD_BINARY} is missing: apt-get install ${ETCD_PACKAGE}`);
    let result = await run('apt-get', install, 600_000);
    if (result.code !== 0) {
      log(`apt-get install failed (${String(result.code)}); running apt-get update and trying again`);
      const update = await run('apt-get', ['update', ...lockWait], 600_000);
      if (update.code !== 0) {
        throw new Error(`apt-get update failed (${String(update.code)}):\n${tail(update.output)}`);
      }
      result = await run('apt-get', install, 600_000);
    }
    if (result.code !== 0) {
      throw new Error(
        `apt-get install ${ETCD_PACKAGE} failed (${String(result.code)}):\n${tail(result.output)}`,
      );
    }
    await stopSystemService(log);
  })();
  // A failed install may be retried by a later start (the lists or the network may be back).
  installing.catch(() => {
    installing = undefined;
  });
  return installing;
}

/**
 * The package's postinst starts an `etcd` system service on the default ports (2379/2380) where services
 * may start (in Docker images policy-rc.d forbids it). The harness never uses those ports, but a stray
 * etcd is a process nobody asked for: stop it and keep it from starting at boot. Best effort.
 */
async function stopSystemService(log: (line: string) => void): Promise<void> {
  if (await exists('/run/systemd/system')) {
    const result = await run('systemctl', ['disable', '--now', 'etcd.service'], 60_000);
    if (result.code === 0) log('disabled and stopped the etcd.service the package started');
    return;
  }
  if (await isExecutable('/usr/sbin/invoke-rc.d')) {
    await run('invoke-rc.d', ['etcd', 'stop'], 60_000);
    await run('update-rc.d', ['etcd', 'disable'], 60_000);
  }
}

function tail(output: string): string {
  return output.trim().split('\n').slice(-20).join('\n');
}

export interface BinaryChoice {
  /** A binary the caller named (option or environment); never installed. */
  readonly given: string | undefined;
  /** Where the package puts etcd. */
  readonly defaultBinary: string;
  /** Whether this process may run apt-get. */
  readonly root: boolean;
  /** Whether installing is allowed at all. */
  readonly install: boolean;
  readonly log: (line: string) => void;
}

/** The etcd binary to run: the one given, else the package's, installed first when missing and allowed. */
export async function resolveEtcdBinary(choice: BinaryChoice): Promise<string> {
  const { given, defaultBinary, root } = choice;
  if (given) {
    if (await isExecutable(given)) return given;
    throw new Error(`etcd binary ${given} does not exist or is not executable`);
  }
  if (await isExecutable(defaultBinary)) return defaultBinary;
  if (root && choice.install) {
    await installEtcd(choice.log);
    if (await isExecutable(defaultBinary)) return defaultBinary;
    throw new Error(`apt-get installed ${ETCD_PACKAGE}, but ${defaultBinary} is still missing`);
  }
  const why = root
    ? ' Installing it was turned off (install: false).'
    : ' The harness installs it by itself only when it runs as root.';
  throw new Error(
    `etcd is not installed: ${defaultBinary} is missing. Install Debian's ${ETCD_PACKAGE} package ` +
      `(sudo apt-get install ${ETCD_PACKAGE}), or point WALSTREAM_ETCD_BIN (or the binary option) at an ` +
      `etcd server binary.${why}`,
  );
}
