import type { ImmutableMessage } from '@walstream/core';
import { checkKnownKeys, integerOption } from '@walstream/core/internal';
import { ChannelLog, type ChannelStats } from './channel-log.js';
import { errors } from './errors.js';
import type { ChannelFaults } from './faults.js';

export interface MemoryLogStoreOptions {
  /** Most entries one pchannel retains; a further append rejects CAPACITY_EXCEEDED. Default unbounded. */
  readonly maxEntriesPerChannel?: number;
  /** Most bytes (payload + property keys and values) one pchannel retains. Default unbounded. */
  readonly maxBytesPerChannel?: number;
  /** Seed of the fault RNG; the same seed and the same appends give the same injected failures. Default 1. */
  readonly seed?: number;
}

const DEFAULT_SEED = 1;

/** The option names of {@link MemoryLogStoreOptions}. */
export const STORE_OPTION_KEYS = ['maxEntriesPerChannel', 'maxBytesPerChannel', 'seed'] as const;

interface ResolvedStoreOptions {
  readonly maxEntriesPerChannel: number;
  readonly maxBytesPerChannel: number;
  readonly seed: number;
}

/**
 * Checks store options (INVALID_ARGUMENT naming the option, `where` naming the call) and resolves the
 * defaults. Unknown keys are checked by the caller, which may know more keys (`memoryAdapter`'s `store`).
 */
export function resolveStoreOptions(where: string, options: MemoryLogStoreOptions): ResolvedStoreOptions {
  return {
    maxEntriesPerChannel: limit(where, 'maxEntriesPerChannel', options.maxEntriesPerChannel),
    maxBytesPerChannel: limit(where, 'maxBytesPerChannel', options.maxBytesPerChannel),
    seed: integerOption(where, 'seed', options.seed, DEFAULT_SEED, { min: Number.MIN_SAFE_INTEGER }),
  };
}

let channelLogOf: (store: MemoryLogStore, pchannel: string) => ChannelLog;

/**
 * The "broker": every pchannel's entries, highest RW term, scanner count and fault switchboard. WALs and
 * openers come and go; the store keeps the data, so closing and reopening a pchannel finds it again.
 * Share one store between adapters (`memoryAdapter({ store })`) to let several openers see one log.
 */
export class MemoryLogStore {
  readonly maxEntriesPerChannel: number;
  readonly maxBytesPerChannel: number;
  readonly seed: number;
  readonly #channels = new Map<string, ChannelLog>();

  static {
    channelLogOf = (store, pchannel) => store.#log(pchannel);
  }

  /** Rejects unknown or bad options with INVALID_ARGUMENT naming the option. */
  constructor(options: MemoryLogStoreOptions = {}) {
    checkKnownKeys('new MemoryLogStore', options, STORE_OPTION_KEYS);
    const resolved = resolveStoreOptions('new MemoryLogStore', options);
    this.maxEntriesPerChannel = resolved.maxEntriesPerChannel;
    this.maxBytesPerChannel = resolved.maxBytesPerChannel;
    this.seed = resolved.seed;
  }

  /** The fault switchboard of `pchannel` (created on first use, so faults can be set before open). */
  faults(pchannel: string): ChannelFaults {
    return this.#log(pchannel).faults;
  }

  /** Counters of `pchannel`; all zero for a pchannel never used. */
  stats(pchannel: string): ChannelStats {
    checkName(pchannel);
    return (
      this.#channels.get(pchannel)?.stats() ?? {
        entries: 0,
        bytes: 0,
        firstOffset: 0,
        nextOffset: 0,
        openScanners: 0,
      }
    );
  }

  /** The highest term `pchannel` was opened read-write at; -1 (INITIAL_TERM) if never. */
  highestTerm(pchannel: string): bigint {
    checkName(pchannel);
    return this.#channels.get(pchannel)?.highestTerm ?? -1n;
  }

  /** A copy of the entries `pchannel` retains, oldest first. */
  messages(pchannel: string): ImmutableMessage[] {
    checkName(pchannel);
    return this.#channels.get(pchannel)?.snapshot() ?? [];
  }

  /** Names of every pchannel the store knows, sorted. */
  channels(): string[] {
    return [...this.#channels.keys()].sort();
  }

  #log(pchannel: string): ChannelLog {
    checkName(pchannel);
    let log = this.#channels.get(pchannel);
    if (!log) {
      log = new ChannelLog(
        pchannel,
        { maxEntries: this.maxEntriesPerChannel, maxBytes: this.maxBytesPerChannel },
        this.seed,
      );
      this.#channels.set(pchannel, log);
    }
    return log;
  }
}

/** The log of `pchannel` in `store`, created on first use. Package-internal: not exported from the index. */
export function channelLog(store: MemoryLogStore, pchannel: string): ChannelLog {
  return channelLogOf(store, pchannel);
}

function checkName(pchannel: string): void {
  if (typeof pchannel !== 'string' || pchannel.length === 0) {
    throw errors.invalid('pchannel name must be a non-empty string');
  }
}

/** A per-pchannel limit: a positive integer, or `Infinity` (the default) for none. */
function limit(where: string, name: string, value: unknown): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  return integerOption(where, name, value, Number.POSITIVE_INFINITY, { min: 1 });
}
