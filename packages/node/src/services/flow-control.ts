import { WalError } from '@walstream/core';
import { checkKnownKeys, integerOption, numberOption } from '@walstream/core/internal';

/** How much a node lets producers hold in flight before it pushes back. */
export interface FlowControlOptions {
  /** Appends one produce stream may have in flight; more are answered RATE_LIMIT_REJECTED. Default 1024. */
  readonly maxInFlightPerStream?: number;
  /**
   * Bytes of appends the whole node may hold in flight (accepted, not yet answered). An append that would
   * go over it is answered RATE_LIMIT_REJECTED. Default 64 MiB.
   */
  readonly maxBytesInFlight?: number;
  /** Fraction of `maxBytesInFlight` from which producers are told to SLOWDOWN. Default 0.8. */
  readonly slowdownAt?: number;
  /** Fraction from which producers are told to stop (REJECT). Default 0.95. */
  readonly rejectAt?: number;
  /** Fraction below which NORMAL is pushed again; lower than `slowdownAt` so the state does not flap. Default 0.5. */
  readonly recoverAt?: number;
}

export type RateLimitLevel = 'normal' | 'slowdown' | 'reject';

/** The node's write pressure as producers are told it. `bytesPerSecond` is 0 for NORMAL (no limit) and REJECT. */
export interface RateLimitNotice {
  readonly level: RateLimitLevel;
  readonly bytesPerSecond: bigint;
}

/** What the node holds in flight now and the most it held since it started. */
export interface FlowControlStats {
  readonly appendsInFlight: number;
  readonly bytesInFlight: number;
  readonly peakAppendsInFlight: number;
  readonly peakBytesInFlight: number;
  /** Appends refused with RATE_LIMIT_REJECTED (stream cap or node budget). */
  readonly rejected: number;
  readonly level: RateLimitLevel;
}

const OPTION_KEYS = ['maxInFlightPerStream', 'maxBytesInFlight', 'slowdownAt', 'rejectAt', 'recoverAt'];

export interface ResolvedFlowControl {
  readonly maxInFlightPerStream: number;
  readonly maxBytesInFlight: number;
  readonly slowdownAt: number;
  readonly rejectAt: number;
  readonly recoverAt: number;
}

export function resolveFlowControl(
  where: string,
  options: FlowControlOptions | undefined,
): ResolvedFlowControl {
  checkKnownKeys(where, options, OPTION_KEYS, 'flowControl.');
  const o = options ?? {};
  const resolved = {
    maxInFlightPerStream: integerOption(
      where,
      'flowControl.maxInFlightPerStream',
      o.maxInFlightPerStream,
      1024,
      {
        max: 0xffff_ffff,
      },
    ),
    maxBytesInFlight: integerOption(
      where,
      'flowControl.maxBytesInFlight',
      o.maxBytesInFlight,
      64 * 1024 * 1024,
    ),
    slowdownAt: numberOption(where, 'flowControl.slowdownAt', o.slowdownAt, 0.8),
    rejectAt: numberOption(where, 'flowControl.rejectAt', o.rejectAt, 0.95),
    recoverAt: numberOption(where, 'flowControl.recoverAt', o.recoverAt, 0.5),
  };
  if (
    !(
      resolved.recoverAt < resolved.slowdownAt &&
      resolved.slowdownAt <= resolved.rejectAt &&
      resolved.rejectAt <= 1
    )
  ) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: flow control fractions must satisfy recoverAt < slowdownAt ≤ rejectAt ≤ 1, got ${resolved.recoverAt}, ${resolved.slowdownAt}, ${resolved.rejectAt}`,
      { retriable: false, details: { option: 'flowControl' } },
    );
  }
  return resolved;
}

/** One admitted append's hold on the node's budget; `release` once its result was sent or dropped. */
export interface FlowPermit {
  release(): void;
}

/**
 * The node-wide in-flight budget shared by every produce stream. Admission is the hard bound (nothing over
 * `maxBytesInFlight` is ever accepted); the pushed level is advice that lets well-behaved producers back
 * off before they hit it. Levels rise at once and fall with hysteresis.
 */
export class NodeFlowControl {
  readonly options: ResolvedFlowControl;
  #appends = 0;
  #bytes = 0;
  #peakAppends = 0;
  #peakBytes = 0;
  #rejected = 0;
  #level: RateLimitLevel = 'normal';
  readonly #listeners = new Set<(notice: RateLimitNotice) => void>();
  // Bytes acknowledged in the current and the previous second, for the rate a SLOWDOWN notice carries.
  #windowStart = 0;
  #windowBytes = 0;
  #lastWindowBytes = 0;
  readonly #now: () => number;

  constructor(options: ResolvedFlowControl, now: () => number = () => performance.now()) {
    this.options = options;
    this.#now = now;
    this.#windowStart = now();
  }

  get level(): RateLimitLevel {
    return this.#level;
  }

  notice(): RateLimitNotice {
    return { level: this.#level, bytesPerSecond: this.#level === 'slowdown' ? this.#slowdownRate() : 0n };
  }

  /** Calls `listener` on every level change; returns the unsubscribe. */
  onChange(listener: (notice: RateLimitNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * A permit for an append of `bytes`, or a RATE_LIMIT_REJECTED error when the node is at REJECT or the
   * append would go over the budget. A message larger than the whole budget can never pass:
   * INVALID_ARGUMENT, not retriable.
   */
  acquire(bytes: number): FlowPermit | WalError {
    const max = this.options.maxBytesInFlight;
    if (bytes > max) {
      this.#rejected++;
      return new WalError(
        'INVALID_ARGUMENT',
        `a message of ${bytes} bytes is over the node's in-flight budget of ${max} bytes`,
        {
          retriable: false,
          details: { bytes, maxBytesInFlight: max },
        },
      );
    }
    if (this.#level === 'reject' || this.#bytes + bytes > max) {
      this.#rejected++;
      return new WalError(
        'RATE_LIMIT_REJECTED',
        'the node holds its maximum of appends in flight; retry later',
        {
          details: { bytesInFlight: this.#bytes, maxBytesInFlight: max },
        },
      );
    }
    this.#appends++;
    this.#bytes += bytes;
    if (this.#appends > this.#peakAppends) this.#peakAppends = this.#appends;
    if (this.#bytes > this.#peakBytes) this.#peakBytes = this.#bytes;
    this.#update();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#appends--;
        this.#bytes -= bytes;
        this.#count(bytes);
        this.#update();
      },
    };
  }

  /** Counts a refusal made elsewhere (a stream's own cap). */
  countRejected(): void {
    this.#rejected++;
  }

  stats(): FlowControlStats {
    return {
      appendsInFlight: this.#appends,
      bytesInFlight: this.#bytes,
      peakAppendsInFlight: this.#peakAppends,
      peakBytesInFlight: this.#peakBytes,
      rejected: this.#rejected,
      level: this.#level,
    };
  }

  #update(): void {
    const { maxBytesInFlight: max, slowdownAt, rejectAt, recoverAt } = this.options;
    const fill = this.#bytes / max;
    let next = this.#level;
    if (fill >= rejectAt) next = 'reject';
    else if (fill >= slowdownAt) next = this.#level === 'reject' ? 'reject' : 'slowdown';
    else if (fill < recoverAt) next = 'normal';
    else if (this.#level === 'reject') next = 'slowdown';
    if (next === this.#level) return;
    this.#level = next;
    const notice = this.notice();
    for (const listener of this.#listeners) listener(notice);
  }

  #count(bytes: number): void {
    const now = this.#now();
    const elapsed = now - this.#windowStart;
    if (elapsed >= 1000) {
      this.#lastWindowBytes = elapsed >= 2000 ? 0 : this.#windowBytes;
      this.#windowBytes = 0;
      this.#windowStart = now;
    }
    this.#windowBytes += bytes;
  }

  /** 80 % of what the node acknowledged over the last second: enough to let the backlog shrink. */
  #slowdownRate(): bigint {
    const rate = Math.max(this.#lastWindowBytes, this.#windowBytes);
    return BigInt(Math.max(1, Math.floor(rate * 0.8)));
  }
}
