import { join } from 'node:path';
import { type LocalAdapter, localAdapter } from '@walstream/adapter-local';
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  type Catalog,
  createWal,
  LocalTimestampAllocator,
  MemoryCatalog,
  type PChannelMeta,
  pchannel,
  type Wal,
  type WalOpener,
} from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { walSemantics } from '@walstream/interceptors';
import { FileCatalog } from './file-catalog.js';

/** The embedded service: one process, one store, the full semantics chain per pchannel. */
export interface EmbeddedService {
  readonly wals: readonly Wal[];
  /** Where the log lives: `local` (with `dataDir`), `memory`, or a `custom` adapter. */
  readonly store: 'local' | 'memory' | 'custom';
  readonly dataDir?: string;
  /** Each pchannel as it was opened: its term and, on the local store, what the log held. */
  readonly pchannels: readonly EmbeddedPChannel[];
  /** Closes every WAL (draining appends in flight), then the opener. Idempotent. */
  close(): Promise<void>;
}

export interface EmbeddedPChannel {
  readonly name: string;
  readonly term: bigint;
  /** Local store: records in the log when it was opened (0 for a new log), its segments, and any torn tail cut. */
  readonly records?: number;
  readonly segments?: number;
  readonly cutBytes?: number;
}

export interface EmbeddedOptions {
  readonly pchannels: number;
  /** Prefix of the pchannel names (`<prefix>-0`, `<prefix>-1`, ...). */
  readonly namePrefix?: string;
  /**
   * The local durable store in this directory, with the catalog (checkpoints, terms) in
   * `<dataDir>/catalog.json`: a restart on the same directory continues the same log, each time at the
   * next term. Without it the store is `adapter`, or the memory adapter, with an in-process catalog.
   */
  readonly dataDir?: string;
  /** The log store when there is no `dataDir`; the in-memory adapter by default. */
  readonly adapter?: WalImplsBuilder;
}

/** The embedded service's node id in the catalog's pchannel records. */
const NODE_ID = 'embedded';

/**
 * Starts the embedded service: the local store in `dataDir` (or the memory adapter) behind
 * `walSemantics()`, a catalog (a file in `dataDir`, else in-process) and a process-local timestamp
 * allocator — the stand-ins for the metadata store and the TSO of a cluster. On the local store each
 * start opens every pchannel at the term after the one the catalog recorded (1 on a new directory), so
 * recovery runs as after a reassignment, and timeticks continue above every one handed out before.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedService> {
  const prefix = options.namePrefix ?? 'embedded';
  const names = Array.from({ length: options.pchannels }, (_, i) => `${prefix}-${i}`);
  const local = options.dataDir === undefined ? undefined : localAdapter({ directory: options.dataDir });
  const adapter: WalImplsBuilder = local ?? options.adapter ?? memoryAdapter();
  const catalog: Catalog =
    options.dataDir === undefined
      ? new MemoryCatalog()
      : await FileCatalog.open(join(options.dataDir, 'catalog.json'));
  const allocator = new LocalTimestampAllocator();
  // Takes the data directory's lock: a second process on it fails here, before changing anything.
  const opener: WalOpener = await createWal({ catalog, allocator })
    .adapter(adapter)
    .use(...walSemantics())
    .build();
  let wals: Wal[];
  let opened: EmbeddedPChannel[];
  try {
    const terms = await nextTerms(catalog, names);
    // Timeticks go on above everything handed out before: the wall clock may have gone back meanwhile.
    let floor = await catalog.getTimestampHighWater();
    for (const name of names) {
      const checkpoint = await catalog.getCheckpoint(name);
      if (checkpoint && checkpoint.timeTick > floor) floor = checkpoint.timeTick;
    }
    await allocator.barrierUntil(floor + 1n);
    wals = await Promise.all(names.map((name, i) => opener.open({ channel: pchannel(name, terms[i]!) })));
    opened = await Promise.all(names.map((name, i) => describeOpened(local, name, terms[i]!)));
  } catch (error) {
    await opener.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    wals,
    store: local ? 'local' : options.adapter ? 'custom' : 'memory',
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    pchannels: opened,
    close() {
      closing ??= (async () => {
        try {
          await Promise.all(wals.map((wal) => wal.close()));
          // The next start continues above every timetick of this run (still under the directory's lock).
          await catalog.saveTimestampHighWater(await allocator.allocate());
        } finally {
          await opener.close();
        }
      })();
      return closing;
    },
  };
}

/** The term each pchannel opens at now (the catalog's + 1), recorded in the catalog before any open. */
async function nextTerms(catalog: Catalog, names: readonly string[]): Promise<bigint[]> {
  const known = new Map((await catalog.listPChannels()).map((meta) => [meta.channel.name, meta]));
  const metas: PChannelMeta[] = names.map((name) => {
    const before = known.get(name);
    const term = (before?.channel.term ?? 0n) + 1n;
    return {
      channel: { name, term, accessMode: 'rw' },
      state: 'assigned',
      nodeId: NODE_ID,
      history: before?.nodeId
        ? [...before.history, { nodeId: before.nodeId, term: before.channel.term }].slice(-10)
        : [],
    };
  });
  await catalog.savePChannels(metas);
  return metas.map((meta) => meta.channel.term);
}

async function describeOpened(
  local: LocalAdapter | undefined,
  name: string,
  term: bigint,
): Promise<EmbeddedPChannel> {
  const stats = await local?.stats(name);
  if (!stats) return { name, term };
  return {
    name,
    term,
    records: stats.recovery.records,
    segments: stats.recovery.segments,
    cutBytes: stats.recovery.cut?.bytes ?? 0,
  };
}
