import { mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@walstream/core';
import { errors } from '../errors.js';
import { differingOption, type ResolvedOptions } from '../options.js';
import { ChannelLog } from './channel-log.js';
import { channelDirectoryName, MAX_DIRECTORY_NAME_BYTES } from './channel-meta.js';
import { acquireDirectoryLock, type DirectoryLock } from './lock.js';
import type { LocalMetrics } from './metrics.js';

/**
 * A data directory opened by this process: its lock file, and the pchannel logs open in it. Every opener
 * of the process on the same directory shares one (the lock keeps other processes out, so these are the
 * only writers), and the logs are shared by every WAL of their pchannel — which is what lets an RW open
 * at a higher term fence the writers of lower terms, and every append wake every tailing reader.
 */
export class OpenDirectory {
  readonly path: string;
  readonly options: ResolvedOptions;
  readonly lock: DirectoryLock;
  openers = 0;
  readonly #channels = new Map<string, { log: Promise<ChannelLog>; users: number }>();

  constructor(path: string, options: ResolvedOptions, lock: DirectoryLock) {
    this.path = path;
    this.options = options;
    this.lock = lock;
  }

  /** The log of `pchannel`, opened (and recovered) by its first user; give it back with {@link release}. */
  async acquire(pchannel: string, logger: Logger, metrics: LocalMetrics): Promise<ChannelLog> {
    let entry = this.#channels.get(pchannel);
    if (!entry) {
      const directoryName = channelDirectoryName(pchannel);
      if (directoryName === undefined) {
        throw errors.invalid(
          `the name is too long for a directory (its encoding takes more than ${MAX_DIRECTORY_NAME_BYTES} bytes)`,
          pchannel,
        );
      }
      const log = ChannelLog.open(pchannel, join(this.path, directoryName), {
        options: this.options,
        logger,
        metrics,
      });
      entry = { log, users: 0 };
      this.#channels.set(pchannel, entry);
      const opening = entry;
      log.catch(() => {
        if (this.#channels.get(pchannel) === opening) this.#channels.delete(pchannel);
      });
    }
    entry.users++;
    try {
      return await entry.log;
    } catch (error) {
      entry.users--;
      throw error;
    }
  }

  /** The log of `pchannel` if a WAL has it open in this process. */
  opened(pchannel: string): Promise<ChannelLog> | undefined {
    return this.#channels.get(pchannel)?.log;
  }

  async release(log: ChannelLog): Promise<void> {
    const entry = this.#channels.get(log.name);
    if (!entry) return;
    entry.users--;
    if (entry.users > 0) return;
    this.#channels.delete(log.name);
    await log.close();
  }

  /** Every channel log still open (openers closing their WALs release them; this is the last resort). */
  async closeAll(): Promise<void> {
    const logs = [...this.#channels.values()].map((entry) => entry.log);
    this.#channels.clear();
    await Promise.all(logs.map(async (log) => (await log.catch(() => undefined))?.close()));
  }
}

const REGISTRY = Symbol.for('walstream.adapter-local.directories');

interface Registry {
  /** By real path: the directory, or its opening or closing in progress. */
  readonly directories: Map<string, Promise<OpenDirectory>>;
  readonly closing: Map<string, Promise<void>>;
}

/** Process-wide, so that two copies of this package in one process still share a directory's lock. */
function registry(): Registry {
  const holder = globalThis as { [REGISTRY]?: Registry };
  holder[REGISTRY] ??= { directories: new Map(), closing: new Map() };
  return holder[REGISTRY];
}

/**
 * The directory of `options`, opened for one more opener: created if missing, locked on first use.
 * RESOURCE_ACQUIRED when another process holds it; INVALID_ARGUMENT when this process has it open with
 * other options (they belong to the directory's logs, not to one opener).
 */
export async function openDirectory(options: ResolvedOptions): Promise<OpenDirectory> {
  await mkdir(options.directory, { recursive: true });
  const path = await realpath(options.directory);
  const { directories, closing } = registry();
  for (;;) {
    const existing = directories.get(path);
    if (existing) {
      const directory = await existing;
      const differs = differingOption(directory.options, options);
      if (differs !== undefined) {
        throw errors.invalidOption(
          'localAdapter',
          differs,
          `${JSON.stringify(directory.options[differs])}, as for the other opener of ${path} in this process`,
        );
      }
      directory.openers++;
      return directory;
    }
    const pending = closing.get(path);
    if (!pending) break;
    await pending;
  }
  const opening = acquireDirectoryLock(path).then((lock) => new OpenDirectory(path, options, lock));
  directories.set(path, opening);
  try {
    const directory = await opening;
    directory.openers++;
    return directory;
  } catch (error) {
    if (directories.get(path) === opening) directories.delete(path);
    throw error;
  }
}

/** One opener fewer; the last one closes the logs and releases the lock. */
export async function closeDirectory(directory: OpenDirectory): Promise<void> {
  directory.openers--;
  if (directory.openers > 0) return;
  const { directories, closing } = registry();
  directories.delete(directory.path);
  const done = (async () => {
    try {
      await directory.closeAll();
    } finally {
      await directory.lock.release();
    }
  })();
  closing.set(directory.path, done);
  try {
    await done;
  } finally {
    if (closing.get(directory.path) === done) closing.delete(directory.path);
  }
}
