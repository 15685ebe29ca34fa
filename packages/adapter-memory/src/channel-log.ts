import { type ImmutableMessage, INITIAL_TERM, type MutableMessage } from '@walstream/core';
import { errors } from './errors.js';
import { ChannelFaults } from './faults.js';
import { MemoryMessageId } from './message-id.js';

/** What {@link MemoryLogStore.stats} reports for one pchannel. */
export interface ChannelStats {
  /** Entries retained (appended and not truncated). */
  readonly entries: number;
  /** Bytes retained: payload length plus property key and value lengths of every retained entry. */
  readonly bytes: number;
  /** Offset of the first retained entry; equals `nextOffset` when nothing is retained. */
  readonly firstOffset: number;
  /** Offset the next append gets. */
  readonly nextOffset: number;
  /** Scanners currently reading this pchannel, over every WAL and opener of the store. */
  readonly openScanners: number;
}

export interface ChannelLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/**
 * One pchannel's log inside a store: the "broker side". It outlives every WAL opened on it, which is what
 * makes data survive close and reopen.
 */
export class ChannelLog {
  readonly name: string;
  readonly faults: ChannelFaults;
  /** The highest term a RW WAL was opened at; RW WALs of lower terms are fenced. */
  highestTerm = INITIAL_TERM;
  openScanners = 0;
  readonly #limits: ChannelLimits;
  readonly #boundedEntries: boolean;
  readonly #boundedBytes: boolean;
  #entries: ImmutableMessage[] = [];
  #firstOffset = 0;
  /** Retained bytes, kept up to date only under a byte limit; otherwise {@link stats} sums on demand. */
  #bytes = 0;
  /** Readers parked at the end of the log. Only non-empty while someone waits. */
  #waiters: (() => void)[] = [];

  constructor(name: string, limits: ChannelLimits, seed: number) {
    this.name = name;
    this.faults = new ChannelFaults(name, seed);
    this.#limits = limits;
    this.#boundedEntries = Number.isFinite(limits.maxEntries);
    this.#boundedBytes = Number.isFinite(limits.maxBytes);
  }

  get firstOffset(): number {
    return this.#firstOffset;
  }

  get nextOffset(): number {
    return this.#firstOffset + this.#entries.length;
  }

  /** The entry at `offset`, or undefined when it was truncated or not written yet. */
  at(offset: number): ImmutableMessage | undefined {
    return this.#entries[offset - this.#firstOffset];
  }

  /** Writes one message. The hot path: no timers, one stored message, a wake-up only if a reader waits. */
  append(message: MutableMessage): MemoryMessageId {
    const count = this.#entries.length;
    if (this.#boundedEntries && count >= this.#limits.maxEntries) {
      throw errors.capacity(this.name, 'maxEntriesPerChannel', this.#limits.maxEntries, count);
    }
    // Sizing walks every property, so an unbounded log skips it on the hot path.
    let size = 0;
    if (this.#boundedBytes) {
      size = message.estimateSize();
      if (this.#bytes + size > this.#limits.maxBytes) {
        throw errors.capacity(this.name, 'maxBytesPerChannel', this.#limits.maxBytes, this.#bytes);
      }
    }
    const id = new MemoryMessageId(this.#firstOffset + count);
    this.#entries.push(message.intoImmutable(id));
    this.#bytes += size;
    if (this.#waiters.length > 0) this.#wakeAll();
    return id;
  }

  /** Drops every entry before `offset` from memory; the entry at `offset` stays readable. */
  truncateBefore(offset: number): void {
    const drop = Math.min(offset - this.#firstOffset, this.#entries.length);
    if (drop <= 0) return;
    if (this.#boundedBytes) this.#bytes -= sizeOf(this.#entries, 0, drop);
    // A fresh array, so the old backing store (and every dropped message) can be collected. O(retained),
    // which is fine for truncation's cadence (checkpoints), not for every append.
    this.#entries = this.#entries.slice(drop);
    this.#firstOffset += drop;
  }

  /** Resolves on the next append, or when `signal` fires. */
  waitForAppend(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        const index = this.#waiters.indexOf(wake);
        if (index >= 0) this.#waiters.splice(index, 1);
        resolve();
      };
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#waiters.push(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A copy of the retained entries, oldest first. */
  snapshot(): ImmutableMessage[] {
    return this.#entries.slice();
  }

  stats(): ChannelStats {
    return {
      entries: this.#entries.length,
      bytes: this.#boundedBytes ? this.#bytes : sizeOf(this.#entries, 0, this.#entries.length),
      firstOffset: this.#firstOffset,
      nextOffset: this.nextOffset,
      openScanners: this.openScanners,
    };
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

function sizeOf(entries: readonly ImmutableMessage[], from: number, to: number): number {
  let bytes = 0;
  for (let i = from; i < to; i++) bytes += entries[i]!.estimateSize();
  return bytes;
}
