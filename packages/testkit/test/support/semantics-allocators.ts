import {
  type Catalog,
  composeTimeTick,
  LocalTimestampAllocator,
  type TimestampAllocator,
} from '@walstream/core';

/**
 * Allocators for the self-tests of the allocator contract: a TSO that keeps its high-water mark in a
 * catalog (correct), and broken ones, each with one fault.
 */

const MS = 1n << 18n;

/**
 * A TSO in the manner of the original's: it reserves a window of time in the catalog (the high-water
 * mark) before handing out any timetick in it, and a new instance on the same catalog starts above the
 * saved mark. Every allocation may need I/O, so it has no allocateNow. `reserve: false` breaks it: it
 * never saves, so a restarted instance trusts the wall clock alone.
 */
export class CatalogTso implements TimestampAllocator {
  /** Where the high-water mark is kept: a restarted TSO is a new instance on the same catalog. */
  readonly catalog: Catalog;
  readonly #clock = new LocalTimestampAllocator();
  readonly #windowMs: number;
  readonly #reserve: boolean;
  #reserved = -1n;
  #loading: Promise<void> | undefined;

  constructor(catalog: Catalog, options: { windowMs?: number; reserve?: boolean } = {}) {
    this.catalog = catalog;
    this.#windowMs = options.windowMs ?? 3_000;
    this.#reserve = options.reserve ?? true;
  }

  /** Loads the saved mark once: the first timetick is above it. */
  async #load(): Promise<void> {
    this.#loading ??= (async () => {
      const saved = await this.catalog.getTimestampHighWater();
      await this.#clock.barrierUntil(saved + 1n);
    })();
    await this.#loading;
  }

  async allocate(): Promise<bigint> {
    await this.#load();
    const next = this.#clock.next();
    if (next > this.#reserved && this.#reserve) {
      // Reserve before handing out: a crash after this never repeats a timetick of the window.
      const until = next + composeTimeTick(this.#windowMs);
      await this.catalog.saveTimestampHighWater(until);
      if (until > this.#reserved) this.#reserved = until;
    }
    return next;
  }

  sync(): void {}

  async barrierUntil(barrier: bigint): Promise<void> {
    await this.#load();
    await this.#clock.barrierUntil(barrier);
  }
}

/** A timestamp allocator that goes back one millisecond once every `every` allocations. */
export class BackwardsEvery implements TimestampAllocator {
  readonly #inner = new LocalTimestampAllocator();
  readonly #every: number;
  #count = 0;

  constructor(every = 1_000) {
    this.#every = every;
  }

  #step(value: bigint): bigint {
    return ++this.#count % this.#every === 0 ? value - MS : value;
  }
  async allocate(): Promise<bigint> {
    return this.#step(await this.#inner.allocate());
  }
  allocateNow(): bigint {
    return this.#step(this.#inner.allocateNow());
  }
  sync(): void {}
  async barrierUntil(barrier: bigint): Promise<void> {
    await this.#inner.barrierUntil(barrier);
  }
}

/** A TSO that forgets its high-water mark on sync: the next timetick is a second lower. */
export class RewindsOnSync implements TimestampAllocator {
  readonly #inner = new LocalTimestampAllocator();
  #rewound = 0n;
  async allocate(): Promise<bigint> {
    return (await this.#inner.allocate()) - this.#rewound;
  }
  allocateNow(): bigint {
    return this.#inner.allocateNow() - this.#rewound;
  }
  sync(): void {
    this.#rewound += composeTimeTick(1_000);
  }
  async barrierUntil(barrier: bigint): Promise<void> {
    await this.#inner.barrierUntil(barrier + this.#rewound);
  }
}

/** An allocator that ignores barrierUntil. */
export class IgnoresBarrier implements TimestampAllocator {
  readonly #inner = new LocalTimestampAllocator();
  allocate(): Promise<bigint> {
    return this.#inner.allocate();
  }
  allocateNow(): bigint {
    return this.#inner.allocateNow();
  }
  sync(): void {}
  async barrierUntil(): Promise<void> {}
}

/**
 * An allocator with a race: it reads its last value, waits for "I/O", then hands out last + 1 — two
 * calls in flight together get the same timetick.
 */
export class RacyAllocator implements TimestampAllocator {
  #last = composeTimeTick(Date.now());
  async allocate(): Promise<bigint> {
    const last = this.#last;
    await Promise.resolve();
    this.#last = last + 1n;
    return last + 1n;
  }
  sync(): void {}
  async barrierUntil(barrier: bigint): Promise<void> {
    if (this.#last < barrier - 1n) this.#last = barrier - 1n;
  }
}

/**
 * allocateNow() served from a second clock that runs 5 ms behind allocate()'s (a cached batch never
 * reconciled with the source): mixing the two goes backwards.
 */
export class SplitClocks implements TimestampAllocator {
  readonly #source = new LocalTimestampAllocator();
  readonly #cache = new LocalTimestampAllocator({ now: () => Date.now() - 5 });
  allocate(): Promise<bigint> {
    return this.#source.allocate();
  }
  allocateNow(): bigint {
    return this.#cache.allocateNow();
  }
  sync(): void {}
  async barrierUntil(barrier: bigint): Promise<void> {
    await this.#source.barrierUntil(barrier);
    await this.#cache.barrierUntil(barrier);
  }
}
