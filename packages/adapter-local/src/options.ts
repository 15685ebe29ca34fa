import { checkKnownKeys, integerOption, oneOfOption, stringOption } from '@walstream/core/internal';
import { errors } from './errors.js';

/** When an append resolves, and so what a crash can lose. See docs/adapter-local.md. */
export type Durability = 'fsync' | 'interval' | 'none';

export interface LocalAdapterOptions {
  /** The data directory: one subdirectory per pchannel, and the lock file. Created if missing. */
  readonly directory: string;
  /**
   * `fsync` (default): an append resolves once its bytes were fdatasync'ed — nothing acknowledged is lost.
   * `interval`: it resolves once written to the OS; an fdatasync runs every `syncIntervalMs`, so a machine
   * crash loses at most that window (a process crash loses nothing). `none`: fdatasync only when a segment
   * rolls and at close; a machine crash may lose what the OS had not flushed.
   */
  readonly durability?: Durability;
  /** With `durability: 'interval'`: time between fdatasyncs, 1..60000 ms. Default 100. */
  readonly syncIntervalMs?: number;
  /** A segment rolls once the next record would take it past this size. 1 KiB..1 GiB; default 64 MiB. */
  readonly segmentBytes?: number;
  /** One sparse-index entry per this many bytes of records. 1..segmentBytes; default 4 KiB. */
  readonly indexIntervalBytes?: number;
  /** The largest record (payload, properties and 20 bytes of framing). 64 B..256 MiB; default 16 MiB. */
  readonly maxRecordBytes?: number;
  /**
   * The most bytes one write call carries. 1 KiB..1 GiB; default 256 KiB. Smaller writes let the next
   * batch be written while the last one is being fdatasync'ed; a single record larger than this goes alone.
   */
  readonly maxBatchBytes?: number;
}

/** The options with every default filled in. */
export interface ResolvedOptions {
  readonly directory: string;
  readonly durability: Durability;
  readonly syncIntervalMs: number;
  readonly segmentBytes: number;
  readonly indexIntervalBytes: number;
  readonly maxRecordBytes: number;
  readonly maxBatchBytes: number;
}

export const OPTION_KEYS = [
  'directory',
  'durability',
  'syncIntervalMs',
  'segmentBytes',
  'indexIntervalBytes',
  'maxRecordBytes',
  'maxBatchBytes',
] as const;

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

const WHERE = 'localAdapter';

/** Checks and completes `options`; INVALID_ARGUMENT names the first bad or unknown option. */
export function resolveOptions(options: LocalAdapterOptions): ResolvedOptions {
  checkKnownKeys(WHERE, options, OPTION_KEYS);
  if (options === undefined) throw errors.invalidOption(WHERE, 'directory', 'given (a directory path)');
  const directory = stringOption(WHERE, 'directory', options.directory, '', false);
  if (directory === '') throw errors.invalidOption(WHERE, 'directory', 'given (a directory path)');
  const durability = oneOfOption<Durability>(
    WHERE,
    'durability',
    options.durability,
    ['fsync', 'interval', 'none'],
    'fsync',
  );
  if (options.syncIntervalMs !== undefined && durability !== 'interval') {
    throw errors.invalidOption(
      WHERE,
      'syncIntervalMs',
      `left out unless durability is "interval" (it is "${durability}")`,
    );
  }
  const syncIntervalMs = integerOption(WHERE, 'syncIntervalMs', options.syncIntervalMs, 100, {
    min: 1,
    max: 60_000,
  });
  const segmentBytes = integerOption(WHERE, 'segmentBytes', options.segmentBytes, 64 * MIB, {
    min: KIB,
    max: GIB,
  });
  const indexIntervalBytes = integerOption(
    WHERE,
    'indexIntervalBytes',
    options.indexIntervalBytes,
    Math.min(4 * KIB, segmentBytes),
    {
      min: 1,
      max: segmentBytes,
    },
  );
  const maxRecordBytes = integerOption(WHERE, 'maxRecordBytes', options.maxRecordBytes, 16 * MIB, {
    min: 64,
    max: 256 * MIB,
  });
  const maxBatchBytes = integerOption(WHERE, 'maxBatchBytes', options.maxBatchBytes, 256 * KIB, {
    min: KIB,
    max: GIB,
  });
  return {
    directory,
    durability,
    syncIntervalMs,
    segmentBytes,
    indexIntervalBytes,
    maxRecordBytes,
    maxBatchBytes,
  };
}

/** The first option in which `a` and `b` differ, if any. */
export function differingOption(a: ResolvedOptions, b: ResolvedOptions): keyof ResolvedOptions | undefined {
  return OPTION_KEYS.find((key) => key !== 'directory' && a[key] !== b[key]);
}
