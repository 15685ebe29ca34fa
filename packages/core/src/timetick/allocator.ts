import { WalError } from '../errors/wal-error.js';
import { composeTimeTick, LOGICAL_MASK, physicalMsOf } from './hybrid.js';

/**
 * Hands out strictly increasing timeticks. The local allocator serves one process; the coordinator's TSO
 * service (batched) implements the same contract for a cluster.
 */
export interface TimestampAllocator {
  /** A timetick greater than every one this allocator returned before. */
  allocate(): Promise<bigint>;
  /**
   * The same without waiting, for allocators that can answer from memory; undefined when this one needs
   * I/O (callers then use {@link allocate}).
   */
  allocateNow?(): bigint | undefined;
  /** Drops any locally cached batch, so the next allocation reflects the source's current time. */
  sync(): void;
  /** The next allocation will be at least `barrier`. */
  barrierUntil(barrier: bigint): Promise<void>;
}

export interface LocalAllocatorOptions {
  /** Wall clock in milliseconds; injectable for tests. */
  readonly now?: () => number;
}

/**
 * A process-local hybrid clock: wall-clock milliseconds with an 18-bit logical counter; never goes
 * backwards even when the wall clock does.
 */
export class LocalTimestampAllocator implements TimestampAllocator {
  readonly #now: () => number;
  #last = 0n;

  constructor(options: LocalAllocatorOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Synchronous form of {@link allocate}, for hot paths that own a local allocator. */
  next(): bigint {
    const physical = composeTimeTick(this.#now());
    const candidate = physical > this.#last ? physical : this.#last + 1n;
    if ((candidate & LOGICAL_MASK) === LOGICAL_MASK && physicalMsOf(candidate) > this.#now() + 60_000) {
      throw new WalError('UNAVAILABLE', 'local timestamp allocator ran a minute ahead of the wall clock');
    }
    this.#last = candidate;
    return candidate;
  }

  async allocate(): Promise<bigint> {
    return this.next();
  }

  allocateNow(): bigint {
    return this.next();
  }

  sync(): void {
    // Nothing is cached ahead: every allocation reads the clock.
  }

  async barrierUntil(barrier: bigint): Promise<void> {
    if (this.#last < barrier) this.#last = barrier - 1n;
  }
}
