import { checkKnownKeys } from '@walstream/core/internal';
import {
  abortError,
  assertPChannelInfo,
  type BuildOptions,
  noObservability,
  type Observability,
  type OpenOptions,
  registerMessageIdCodec,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsCapabilities,
  type WalImplsOpener,
} from '@walstream/core/spi';
import { errors } from './errors.js';
import { LOCAL_WAL_NAME, LocalMessageId } from './message-id.js';
import { type LocalAdapterOptions, OPTION_KEYS, type ResolvedOptions, resolveOptions } from './options.js';
import type { RecoveryReport } from './store/channel-log.js';
import { closeDirectory, type OpenDirectory, openDirectory } from './store/directory.js';
import { LocalMetrics } from './store/metrics.js';
import { LocalWal } from './wal.js';

/** What a pchannel's log holds now, while a WAL of it is open in this process. */
export interface LocalChannelStats {
  /** The first offset readers see (the truncation point, or the first record kept). */
  readonly firstOffset: number;
  /** The offset the next record gets. */
  readonly nextOffset: number;
  /** The highest term opened read-write; -1 before the first. */
  readonly term: bigint;
  /** Segment files, oldest first. */
  readonly segments: readonly {
    readonly base: number;
    readonly records: number;
    readonly bytes: number;
    readonly sealed: boolean;
  }[];
  /** Records written, and group commits they took (one write, and with `fsync` one fdatasync, each), since open. */
  readonly appends: number;
  readonly commits: number;
  /** Records readers took from the files since open. */
  readonly fetched: number;
  /** What opening the pchannel found and repaired. */
  readonly recovery: RecoveryReport;
}

/** The `local` builder, with its resolved options and a look at the logs it has open. */
export interface LocalAdapter extends WalImplsBuilder {
  readonly name: typeof LOCAL_WAL_NAME;
  readonly options: ResolvedOptions;
  /** Statistics of `pchannel` while a WAL of it is open in this process; undefined otherwise. */
  stats(pchannel: string): Promise<LocalChannelStats | undefined>;
}

const CAPABILITIES: WalImplsCapabilities = Object.freeze({ truncate: 'physical', fencing: true });

/**
 * The embedded durable adapter: each pchannel a directory of segment files under `directory`, appends
 * group-committed with the chosen durability, torn tails cut on open. One process at a time may open a
 * directory (a lock file says which); within it, every opener shares the directory's logs. Unknown or bad
 * options throw INVALID_ARGUMENT naming the option. It logs and counts through the `observability` that
 * `build()` receives (the stack's, from `createWal()`).
 *
 * ```ts
 * const opener = await localAdapter({ directory: '/var/lib/walstream' }).build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export function localAdapter(options: LocalAdapterOptions): LocalAdapter {
  // Also at module load; repeated here because bundlers may drop a side-effect-only import.
  registerMessageIdCodec(LOCAL_WAL_NAME, LocalMessageId.unmarshal);
  checkKnownKeys('localAdapter', options, OPTION_KEYS);
  const resolved = resolveOptions(options);
  let directory: OpenDirectory | undefined;
  return {
    name: LOCAL_WAL_NAME,
    capabilities: CAPABILITIES,
    options: resolved,
    async build(buildOptions?: BuildOptions): Promise<WalImplsOpener> {
      if (buildOptions?.signal?.aborted) throw abortError(buildOptions.signal, 'local adapter build');
      const observability = (buildOptions?.observability ?? noObservability).child({
        adapter: LOCAL_WAL_NAME,
      });
      const opened = await openDirectory(resolved);
      directory = opened;
      return new LocalOpener(opened, observability);
    },
    async stats(pchannel: string): Promise<LocalChannelStats | undefined> {
      const log = await directory?.opened(pchannel)?.catch(() => undefined);
      if (!log || log.closed) return undefined;
      return {
        firstOffset: log.firstOffset,
        nextOffset: log.nextOffset,
        term: log.highestTerm,
        segments: log.segments.map((segment) => ({
          base: segment.base,
          records: segment.records,
          bytes: segment.size,
          sealed: segment.sealed,
        })),
        appends: log.appends,
        commits: log.commits,
        fetched: log.fetched,
        recovery: log.recovery,
      };
    },
  };
}

/** Opens WALs over one directory and closes them all when it closes; the last opener unlocks it. */
class LocalOpener implements WalImplsOpener {
  readonly #directory: OpenDirectory;
  readonly #observability: Observability;
  readonly #metrics: LocalMetrics;
  readonly #wals = new Set<LocalWal>();
  #closed: Promise<void> | undefined;

  constructor(directory: OpenDirectory, observability: Observability) {
    this.#directory = directory;
    this.#observability = observability;
    this.#metrics = new LocalMetrics(observability.meter);
  }

  async open(options: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw errors.openerClosed();
    if (options?.signal?.aborted) throw abortError(options.signal, 'local WAL open');
    if (typeof options?.channel !== 'object' || options.channel === null) {
      throw errors.invalid('open needs a channel (PChannelInfo)');
    }
    assertPChannelInfo(options.channel);
    const { channel } = options;
    const logger = this.#observability.logger.child({
      pchannel: channel.name,
      term: channel.term.toString(),
    });
    const log = await this.#directory.acquire(
      channel.name,
      this.#observability.logger.child({ pchannel: channel.name }),
      this.#metrics,
    );
    try {
      // Opening read-write at a higher term fences every older writer, and is on disk before it resolves.
      if (channel.accessMode === 'rw') {
        await log.raiseTerm(channel.term);
        await log.prepareWriter(); // the first appends need not wait for a segment file
      }
      if (this.#closed) throw errors.openerClosed();
    } catch (error) {
      await this.#directory.release(log);
      throw error;
    }
    const wal = new LocalWal(log, channel, logger, async (closed) => {
      this.#wals.delete(closed);
      await this.#directory.release(log);
    });
    this.#wals.add(wal);
    logger.debug({ accessMode: channel.accessMode }, 'local WAL opened');
    return wal;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#wals].map((wal) => wal.close()));
      await closeDirectory(this.#directory);
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

declare module '@walstream/core' {
  interface RegisteredAdapters {
    /** Typed options for `registry.registerAdapter('local', localAdapter)` and `createWal().adapter('local', …)`. */
    local: LocalAdapterOptions;
  }
}
