import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { errors } from '../errors.js';

export const LOCK_FILE = 'LOCK';
const BREAK_DIR = 'LOCK.break';
/** A `LOCK.break` directory older than this was left by a process that died while breaking a stale lock. */
const BREAK_STALE_MS = 10_000;
const ACQUIRE_ATTEMPTS = 50;

/** Who holds a lock: enough to tell, on this machine, whether that process still runs. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** Linux: the kernel's boot id; another one means the holder ran before a reboot. */
  readonly bootId?: string;
  /** Linux: the holder's start time in clock ticks since boot; another one means the pid was reused. */
  readonly startTicks?: string;
  /** Tells this holder's lock from any other, even of the same pid. */
  readonly nonce: string;
  readonly since: string;
}

/** A lock this process holds on a directory. */
export interface DirectoryLock {
  readonly file: string;
  readonly holder: LockHolder;
  release(): Promise<void>;
}

/**
 * Takes the lock file of `directory` for this process, or throws RESOURCE_ACQUIRED naming the process that
 * holds it. The file is created whole (written aside, then hard-linked into place), so a reader never sees
 * a half-written one. A lock whose holder is gone — the process exited or was killed, the machine
 * rebooted, or its pid now belongs to another process — is taken over; two processes taking over the
 * same stale lock are serialised by the `LOCK.break` directory.
 */
export async function acquireDirectoryLock(directory: string): Promise<DirectoryLock> {
  const file = join(directory, LOCK_FILE);
  const holder = await currentHolder();
  const content = `${JSON.stringify(holder)}\n`;
  for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
    const aside = join(directory, `${LOCK_FILE}.${holder.pid}.${holder.nonce}`);
    await writeFile(aside, content, { flag: 'wx' });
    try {
      await link(aside, file);
      return {
        file,
        holder,
        release: () => releaseLock(file, holder.nonce),
      };
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    } finally {
      await unlink(aside).catch(() => undefined);
    }
    const found = await readHolder(file);
    if (found === 'missing') continue; // released meanwhile: try again
    if (found !== 'unreadable' && (await isAlive(found))) {
      throw errors.locked(directory, describeHolder(found), file);
    }
    await breakStaleLock(directory, file, found);
  }
  throw errors.locked(directory, 'processes that keep taking it', file);
}

async function releaseLock(file: string, nonce: string): Promise<void> {
  const found = await readHolder(file);
  // Only our own lock: after a takeover (we were thought dead) the file is somebody else's.
  if (typeof found === 'object' && found.nonce === nonce) await unlink(file).catch(() => undefined);
}

/** Removes the lock file if it still is the stale one `judged`, under the `LOCK.break` mutex. */
async function breakStaleLock(
  directory: string,
  file: string,
  judged: LockHolder | 'unreadable',
): Promise<void> {
  const mutex = join(directory, BREAK_DIR);
  try {
    await mkdir(mutex);
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw error;
    const info = await stat(mutex).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > BREAK_STALE_MS) await rmdir(mutex).catch(() => undefined);
    // Another process is breaking the lock right now: give it a moment, then look again.
    await new Promise((resolve) => setTimeout(resolve, 5));
    return;
  }
  try {
    const now = await readHolder(file);
    const same =
      (judged === 'unreadable' && now === 'unreadable') ||
      (typeof judged === 'object' && typeof now === 'object' && now.nonce === judged.nonce);
    if (same) await unlink(file).catch(() => undefined);
  } finally {
    await rmdir(mutex).catch(() => undefined);
  }
}

async function readHolder(file: string): Promise<LockHolder | 'missing' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return 'missing';
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (
      typeof parsed.pid === 'number' &&
      typeof parsed.nonce === 'string' &&
      typeof parsed.host === 'string'
    ) {
      return parsed as LockHolder;
    }
  } catch {
    // Fall through: a lock file nobody could have written whole (the machine stopped before it was on disk).
  }
  return 'unreadable';
}

/** Whether the process that wrote `holder` still runs; true when that cannot be told (another machine). */
async function isAlive(holder: LockHolder): Promise<boolean> {
  const bootId = await linuxBootId();
  if (holder.bootId !== undefined && bootId !== undefined) {
    if (holder.bootId !== bootId) return false; // written before a reboot
  } else if (holder.host !== hostname()) {
    return true; // another machine, or no way to tell: never take it over
  }
  // This process would know its own lock (every opener of the process shares it): a lock with our pid
  // was left by an earlier process that had the same pid (pid 1 in a container, say).
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if (isCode(error, 'ESRCH')) return false;
    // EPERM: it exists and belongs to someone else.
  }
  if (holder.startTicks !== undefined) {
    const now = await linuxStartTicks(holder.pid);
    if (now !== undefined && now !== holder.startTicks) return false; // the pid was reused
  }
  return true;
}

function describeHolder(holder: LockHolder): string {
  return `process ${holder.pid} on ${holder.host} (since ${holder.since})`;
}

async function currentHolder(): Promise<LockHolder> {
  const bootId = await linuxBootId();
  const startTicks = await linuxStartTicks(process.pid);
  return {
    pid: process.pid,
    host: hostname(),
    ...(bootId === undefined ? {} : { bootId }),
    ...(startTicks === undefined ? {} : { startTicks }),
    nonce: randomBytes(8).toString('hex'),
    since: new Date().toISOString(),
  };
}

let bootIdCache: Promise<string | undefined> | undefined;

function linuxBootId(): Promise<string | undefined> {
  bootIdCache ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => text.trim() || undefined,
    () => undefined,
  );
  return bootIdCache;
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
async function linuxStartTicks(pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
