import {
  type Catalog,
  composeTimeTick,
  LocalTimestampAllocator,
  type TimestampAllocator,
  WalError,
} from '@walstream/core';
import { checkKnownKeys, functionOption, integerOption } from '@walstream/core/internal';
import { noObservability, type Observability } from '@walstream/core/spi';

export interface TsoOptions {
  /** Where the high-water mark lives; a TSO started again on the same catalog continues above it. */
  readonly catalog: Catalog;
  /**
   * How far ahead of the timeticks handed out the mark is saved, in milliseconds. A larger window costs
   * fewer catalog writes and skips more timeticks at a restart. Default 3 000.
   */
  readonly windowMs?: number;
  /** Wall clock in milliseconds; injectable for tests. */
  readonly now?: () => number;
  readonly observability?: Observability;
}

/** A run of consecutive timeticks, `first` to `first + count − 1`, handed out in one call. */
export interface TimeTickBatch {
  readonly first: bigint;
  readonly count: number;
}

/** Most timeticks one batch may take: a quarter of a millisecond's logical range. */
export const MAX_BATCH = 65_536;

/**
 * The coordinator's timestamp oracle: hybrid timeticks (`ms << 18 | logical`) that rise strictly, across
 * restarts too. Before handing out a timetick above the saved high-water mark it saves a new mark a
 * window ahead, so every timetick ever handed out is at or below a mark in the catalog, and a restarted
 * TSO starts above the mark whatever the wall clock says. The next window is saved in the background
 * once half of the current one is used, so allocations seldom wait for the catalog.
 */
export class Tso implements TimestampAllocator {
  readonly #catalog: Catalog;
  readonly #windowMs: number;
  readonly #clock: LocalTimestampAllocator;
  readonly #obs: Observability;
  /** Every timetick at or below this is covered by a saved mark. */
  #reserved = -1n;
  #loading: Promise<void> | undefined;
  #saving: Promise<void> | undefined;

  constructor(options: TsoOptions) {
    const where = 'Tso';
    checkKnownKeys(where, options, ['catalog', 'windowMs', 'now', 'observability']);
    if (typeof options?.catalog?.getTimestampHighWater !== 'function') {
      throw new WalError('INVALID_ARGUMENT', `${where}: option catalog must be a Catalog`, {
        retriable: false,
      });
    }
    this.#catalog = options.catalog;
    this.#windowMs = integerOption(where, 'windowMs', options.windowMs, 3_000, { min: 1, max: 3_600_000 });
    const now = functionOption<() => number>(where, 'now', options.now);
    this.#clock = new LocalTimestampAllocator(now ? { now } : {});
    this.#obs = options.observability ?? noObservability;
  }

  /** Reads the saved mark (once); the first timetick is above it. */
  #load(): Promise<void> {
    this.#loading ??= (async () => {
      const saved = await this.#catalog.getTimestampHighWater();
      await this.#clock.barrierUntil(saved + 1n);
      this.#reserved = saved;
    })().catch((error: unknown) => {
      this.#loading = undefined;
      throw unavailable('reading the TSO high-water mark failed', error);
    });
    return this.#loading;
  }

  /** Saves a mark covering `upTo` plus a window; concurrent callers share one write. */
  async #reserve(upTo: bigint): Promise<void> {
    while (this.#reserved < upTo) {
      if (this.#saving === undefined) {
        const mark = upTo + composeTimeTick(this.#windowMs);
        this.#saving = this.#catalog.saveTimestampHighWater(mark).then(
          () => {
            if (mark > this.#reserved) this.#reserved = mark;
            this.#saving = undefined;
          },
          (error: unknown) => {
            this.#saving = undefined;
            throw unavailable('saving the TSO high-water mark failed', error);
          },
        );
      }
      await this.#saving;
    }
  }

  /** Starts the next window early, once half of the current one is used. */
  #renewAhead(last: bigint): void {
    const half = composeTimeTick(this.#windowMs) / 2n;
    if (this.#saving !== undefined || this.#reserved - last > half) return;
    this.#reserve(this.#reserved + 1n).catch((error: unknown) =>
      this.#obs.reportError({ component: 'tso', error, retrying: true }),
    );
  }

  async allocate(): Promise<bigint> {
    await this.#load();
    const next = this.#clock.next();
    if (next > this.#reserved) await this.#reserve(next);
    this.#renewAhead(next);
    return next;
  }

  allocateNow(): bigint | undefined {
    if (this.#reserved < 0n) return undefined;
    const next = this.#clock.next();
    this.#renewAhead(next);
    // A timetick above the mark may not leave the process; it is skipped, never reused.
    return next <= this.#reserved ? next : undefined;
  }

  /** `count` consecutive timeticks in one call, for a node that hands them out itself. */
  async allocateBatch(count: number): Promise<TimeTickBatch> {
    integerOption('Tso.allocateBatch', 'count', count, 1, { min: 1, max: MAX_BATCH });
    await this.#load();
    const first = this.#clock.next();
    const last = first + BigInt(count - 1);
    if (count > 1) await this.#clock.barrierUntil(last + 1n);
    if (last > this.#reserved) await this.#reserve(last);
    this.#renewAhead(last);
    return { first, count };
  }

  sync(): void {
    // Nothing is cached ahead of the clock: every allocation reads it.
  }

  async barrierUntil(barrier: bigint): Promise<void> {
    await this.#load();
    await this.#clock.barrierUntil(barrier);
  }

  /** The mark saved so far (−1 before the first read); for status pages and tests. */
  get reservedUpTo(): bigint {
    return this.#reserved;
  }
}

function unavailable(message: string, cause: unknown): WalError {
  if (WalError.is(cause) && !cause.retriable) return cause;
  return new WalError('UNAVAILABLE', message, { cause });
}
