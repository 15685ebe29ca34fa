import { type ImmutableMessage, WalError } from '@walstream/core';
import { abortError, type TailBuffer, type TailReader } from '@walstream/core/spi';
import { Notifier } from '../util/signal.js';

/** Checked and defaulted by the semantics options (`SemanticsOptions.wab`). */
export interface WriteAheadBufferOptions {
  /** Most bytes (estimated message sizes) kept; older messages are evicted first. */
  readonly capacityBytes: number;
  /** How long a message stays at least; older ones are evicted. */
  readonly keepaliveMs: number;
  /** Wall clock in ms. */
  readonly now: () => number;
}

interface Entry {
  readonly message: ImmutableMessage;
  readonly timeTick: bigint;
  readonly size: number;
  readonly expiresAt: number;
}

/**
 * The write-ahead buffer (WAB): the persisted messages of this WAL in timetick order, each at a continuous
 * offset, so tailing readers need not go back to the store. Filled only by the TimeTick sync: each sync
 * pushes the messages it covers (ascending timetick) and its tick; a non-persisted tick is only remembered
 * as the latest tick.
 *
 * An append whose outcome is unknown (it failed, yet may be in the log: the WAL closed before it was
 * confirmed) is covered by the next tick like any other, but the buffer cannot hold what it does not know.
 * Its timetick is kept as an *unknown* point: no reader passes it — a reader about to is sent back to the
 * store, which has the append if it landed — and no reader starts before it. Unknown points are rare (in
 * practice the last sync of a closing WAL) and never dropped.
 *
 * Eviction drops from the head while a message is past its keepalive or the buffer is over capacity, but
 * never the last message: a reader catching up from the store must always be able to meet a persisted
 * message in both streams.
 */
export class WriteAheadBuffer implements TailBuffer {
  readonly #capacity: number;
  readonly #keepaliveMs: number;
  readonly #now: () => number;
  readonly #grew = new Notifier();
  #entries: Entry[] = [];
  /** Index in #entries of the first live entry. */
  #head = 0;
  /** Offset of #entries[#head]. */
  #headOffset = 0;
  #bytes = 0;
  #lastTick: ImmutableMessage;
  #closed = false;
  /** Timeticks of appends whose outcome is unknown, ascending. */
  readonly #unknown: bigint[] = [];

  constructor(seed: ImmutableMessage, options: WriteAheadBufferOptions) {
    this.#capacity = options.capacityBytes;
    this.#keepaliveMs = options.keepaliveMs;
    this.#now = options.now;
    this.#lastTick = seed;
    if (seed.persisted) this.#append(seed, seed.timeTick, this.#now() + this.#keepaliveMs);
  }

  /** Messages held. */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Offset of the oldest message held. */
  get firstOffset(): number {
    return this.#headOffset;
  }

  /** Offset the next message gets. */
  get nextOffset(): number {
    return this.#headOffset + this.size;
  }

  /** The newest tick pushed, persisted or not. */
  get lastTimeTick(): bigint {
    return this.#lastTick.timeTick;
  }

  /** Timeticks of what is held, oldest first (tests and diagnostics). */
  timeTicks(): bigint[] {
    return this.#entries.slice(this.#head).map((entry) => entry.timeTick);
  }

  /**
   * Adds what one TimeTick sync covers: `messages` (persisted, ascending timetick, all above the previous
   * tick and at most `tick`) and the tick itself (buffered only if persisted). `timeTicks`, when given,
   * are the messages' timeticks (the writer knows them; decoding `_tt` again is not free). `unknown` are
   * the timeticks of the appends the tick covers whose outcome is unknown (ascending, in the same range).
   */
  push(
    messages: readonly ImmutableMessage[],
    tick: ImmutableMessage,
    timeTicks?: readonly bigint[],
    unknown?: readonly bigint[],
  ): void {
    if (this.#closed) return;
    const floor = this.#lastTick.timeTick;
    let previous = this.#lastEntryTimeTick();
    for (let index = 0; index < messages.length; index++) {
      const timeTick = timeTicks?.[index] ?? messages[index]!.timeTick;
      if (timeTick <= floor || timeTick < previous || timeTick > tick.timeTick) {
        throw new WalError(
          'INNER',
          `write-ahead buffer: message at ${timeTick} out of order (last tick ${floor}, previous ${previous}, new tick ${tick.timeTick})`,
        );
      }
      previous = timeTick;
    }
    if (tick.timeTick < floor) {
      throw new WalError('INNER', `write-ahead buffer: tick ${tick.timeTick} is behind tick ${floor}`);
    }
    let previousUnknown = floor;
    for (const timeTick of unknown ?? []) {
      if (timeTick <= previousUnknown || timeTick > tick.timeTick) {
        throw new WalError(
          'INNER',
          `write-ahead buffer: unknown append at ${timeTick} out of order (last tick ${floor}, new tick ${tick.timeTick})`,
        );
      }
      previousUnknown = timeTick;
    }
    for (const timeTick of unknown ?? []) this.#unknown.push(timeTick);
    // One clock reading per push: the messages of one sync expire together.
    const expiresAt = this.#now() + this.#keepaliveMs;
    for (let index = 0; index < messages.length; index++) {
      const message = messages[index]!;
      if (message.persisted) this.#append(message, timeTicks?.[index] ?? message.timeTick, expiresAt);
    }
    if (tick.persisted) this.#append(tick, tick.timeTick, expiresAt);
    this.#lastTick = tick;
    this.#evict();
    this.#grew.notify();
  }

  readFromExclusiveTimeTick(timeTick: bigint): TailReader | undefined {
    if (this.#closed || this.size === 0) return undefined;
    const first = this.#entries[this.#head]!;
    // Whatever lay between `timeTick` and the head was evicted (or never seen): read it from the store.
    if (timeTick < first.timeTick) return undefined;
    // An append of unknown outcome lies ahead: only the store knows whether it is there.
    if (timeTick < (this.#unknown.at(-1) ?? -1n)) return undefined;
    let low = this.#head;
    let high = this.#entries.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.#entries[mid]!.timeTick > timeTick) high = mid;
      else low = mid + 1;
    }
    return new Reader(this, this.#headOffset + (low - this.#head), timeTick);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#grew.notify();
  }

  /**
   * @internal Whether an append of unknown outcome has a timetick in (`after`, `upTo`]: a reader that has
   * delivered up to `after` may not hand out anything at `upTo` before the store told it about that append.
   */
  unknownBetween(after: bigint, upTo: bigint): boolean {
    const unknown = this.#unknown;
    // Newest first: readers are near the tail, and unknown points are few.
    for (let index = unknown.length - 1; index >= 0; index--) {
      const timeTick = unknown[index]!;
      if (timeTick <= after) return false;
      if (timeTick <= upTo) return true;
    }
    return false;
  }

  /** @internal The entry at `offset`, `'evicted'`, or undefined when it was not written yet. */
  entryAt(offset: number): ImmutableMessage | 'evicted' | undefined {
    if (offset < this.#headOffset) return 'evicted';
    const index = this.#head + (offset - this.#headOffset);
    return this.#entries[index]?.message;
  }

  /** @internal The timetick an entry is ordered by (a txn body's is its commit's); undefined past the end. */
  orderAt(offset: number): bigint | undefined {
    if (offset < this.#headOffset) return undefined;
    return this.#entries[this.#head + (offset - this.#headOffset)]?.timeTick;
  }

  /** @internal */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal The newest tick, for readers that are past every buffered message. */
  get lastTick(): ImmutableMessage {
    return this.#lastTick;
  }

  /** @internal */
  waitForGrowth(): Promise<void> {
    return this.#grew.wait();
  }

  #lastEntryTimeTick(): bigint {
    const last = this.#entries[this.#entries.length - 1];
    return this.size > 0 && last ? last.timeTick : 0n;
  }

  #append(message: ImmutableMessage, timeTick: bigint, expiresAt: number): void {
    const size = message.estimateSize();
    this.#entries.push({ message, timeTick, size, expiresAt });
    this.#bytes += size;
  }

  #evict(): void {
    const now = this.#now();
    while (this.size > 1) {
      const head = this.#entries[this.#head]!;
      if (head.expiresAt > now && this.#bytes <= this.#capacity) break;
      this.#entries[this.#head] = undefined as unknown as Entry;
      this.#head++;
      this.#headOffset++;
      this.#bytes -= head.size;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Reads the buffer by offset; falls back to the latest tick when it is past every buffered message. */
class Reader implements TailReader {
  readonly #buffer: WriteAheadBuffer;
  #offset: number;
  #lastTimeTick: bigint;
  /**
   * Where the reader starts, exclusive. The buffer fills after appends are acknowledged, so a reader that
   * comes from the store may be ahead of it: entries at or below this point were already delivered.
   */
  readonly #after: bigint;
  #closed = false;
  readonly #closedSignal = new AbortController();

  constructor(buffer: WriteAheadBuffer, offset: number, lastTimeTick: bigint) {
    this.#buffer = buffer;
    this.#offset = offset;
    this.#lastTimeTick = lastTimeTick;
    this.#after = lastTimeTick;
  }

  async next(signal?: AbortSignal): Promise<ImmutableMessage | undefined> {
    for (;;) {
      if (signal?.aborted) throw abortError(signal, 'write-ahead buffer read');
      if (this.#closed) return undefined;
      if (this.#buffer.closed) throw new WalError('CLOSED', 'write-ahead buffer closed');
      const entry = this.#buffer.entryAt(this.#offset);
      if (entry === 'evicted') return undefined;
      if (entry !== undefined && this.#buffer.orderAt(this.#offset)! <= this.#after) {
        this.#offset++;
        continue;
      }
      if (entry !== undefined) {
        // The store may hold an append before this entry that the buffer does not: read on there.
        if (this.#buffer.unknownBetween(this.#lastTimeTick, entry.timeTick)) return undefined;
        this.#offset++;
        if (entry.timeTick > this.#lastTimeTick) this.#lastTimeTick = entry.timeTick;
        return entry;
      }
      // Past every buffered message: an idle WAL still moves time on with non-persisted ticks.
      const tick = this.#buffer.lastTick;
      if (tick.timeTick > this.#lastTimeTick) {
        if (this.#buffer.unknownBetween(this.#lastTimeTick, tick.timeTick)) return undefined;
        this.#lastTimeTick = tick.timeTick;
        return tick;
      }
      await this.#waitForGrowth(signal);
    }
  }

  close(): void {
    this.#closed = true;
    this.#closedSignal.abort();
  }

  /** Waits until the buffer grows, this reader is closed, or `signal` fires (then rejects ABORTED). */
  async #waitForGrowth(signal: AbortSignal | undefined): Promise<void> {
    const grew = this.#buffer.waitForGrowth();
    const closed = this.#closedSignal.signal;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        closed.removeEventListener('abort', done);
        resolve();
      };
      const onAbort = (): void => {
        closed.removeEventListener('abort', done);
        reject(abortError(signal, 'write-ahead buffer read'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      closed.addEventListener('abort', done, { once: true });
      void grew.then(done);
    });
  }
}
