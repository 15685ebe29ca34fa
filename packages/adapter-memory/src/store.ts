import type { ImmutableMessage } from '@walstream/core';
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

export const DEFAULT_SEED = 1;

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

  constructor(options: MemoryLogStoreOptions = {}) {
    this.maxEntriesPerChannel = limit('maxEntriesPerChannel', options.maxEntriesPerChannel);
    this.maxBytesPerChannel = limit('maxBytesPerChannel', options.maxBytesPerChannel);
    const seed = options.seed ?? DEFAULT_SEED;
    if (!Number.isInteger(seed)) throw errors.invalid(`seed must be an integer, got ${String(seed)}`);
    this.seed = seed;
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

function limit(name: string, value: number | undefined): number {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw errors.invalid(`${name} must be a positive integer (or Infinity), got ${String(value)}`);
  }
  return value;
}
