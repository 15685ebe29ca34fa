import { WalError } from '@walstream/core';
import { channelSeed, type Random, seededRandom } from './rng.js';

/** Faults to inject on one pchannel. Every field is optional; `set` changes only the fields it names. */
export interface FaultConfig {
  /** Probability in [0, 1] that an append rejects with UNAVAILABLE (retriable) without writing. */
  readonly appendErrorRate?: number;
  /**
   * Probability in [0, 1] that an append is written and then rejects with UNAVAILABLE (retriable), as if
   * its acknowledgement was lost on the way: the "outcome unknown" failure of a networked store, after
   * which a retry writes the message a second time.
   */
  readonly lostAckRate?: number;
  /** While true every append rejects with CHANNEL_FENCED (not retriable), as if a newer owner took over. */
  readonly fenced?: boolean;
  /** Each append waits this long before it writes (the delay honours the AbortSignal). */
  readonly appendDelayMs?: number;
  /** Each scanner waits this long before it hands over each message. */
  readonly readDelayMs?: number;
}

/** The faults currently in force, every field resolved. */
export interface ActiveFaults {
  readonly appendErrorRate: number;
  readonly lostAckRate: number;
  readonly fenced: boolean;
  readonly appendDelayMs: number;
  readonly readDelayMs: number;
}

const NO_FAULTS: ActiveFaults = Object.freeze({
  appendErrorRate: 0,
  lostAckRate: 0,
  fenced: false,
  appendDelayMs: 0,
  readDelayMs: 0,
});

/**
 * The fault switchboard of one pchannel, changeable at runtime. The append path asks {@link appendFaulty}
 * first, so a channel without append faults pays one property read.
 */
export class ChannelFaults {
  readonly channel: string;
  #config: ActiveFaults = NO_FAULTS;
  readonly #random: Random;
  #appendFaulty = false;

  constructor(channel: string, seed: number) {
    this.channel = channel;
    this.#random = seededRandom(channelSeed(seed, channel));
  }

  /** True when any append fault is set: the one check an unfaulted append pays. */
  get appendFaulty(): boolean {
    return this.#appendFaulty;
  }

  /** The faults in force now. */
  get config(): ActiveFaults {
    return this.#config;
  }

  /** Changes the fields given in `faults`; the others keep their value. Returns `this` for chaining. */
  set(faults: FaultConfig): this {
    const next = { ...this.#config };
    if (faults.appendErrorRate !== undefined)
      next.appendErrorRate = checkRate(this.channel, 'appendErrorRate', faults.appendErrorRate);
    if (faults.lostAckRate !== undefined)
      next.lostAckRate = checkRate(this.channel, 'lostAckRate', faults.lostAckRate);
    if (faults.fenced !== undefined) {
      if (typeof faults.fenced !== 'boolean') {
        throw invalid(this.channel, `fenced must be a boolean, got ${String(faults.fenced)}`);
      }
      next.fenced = faults.fenced;
    }
    if (faults.appendDelayMs !== undefined)
      next.appendDelayMs = checkDelay(this.channel, 'appendDelayMs', faults.appendDelayMs);
    if (faults.readDelayMs !== undefined)
      next.readDelayMs = checkDelay(this.channel, 'readDelayMs', faults.readDelayMs);
    this.#apply(Object.freeze(next));
    return this;
  }

  /** Removes every fault. The random sequence continues where it was, so a replay stays deterministic. */
  clear(): this {
    this.#apply(NO_FAULTS);
    return this;
  }

  /** Draws from the channel's seeded sequence: true when this append should fail. */
  rollAppendError(): boolean {
    const rate = this.#config.appendErrorRate;
    return rate > 0 && this.#random() < rate;
  }

  /** Draws from the channel's seeded sequence: true when this written append should lose its acknowledgement. */
  rollLostAck(): boolean {
    const rate = this.#config.lostAckRate;
    return rate > 0 && this.#random() < rate;
  }

  #apply(config: ActiveFaults): void {
    this.#config = config;
    this.#appendFaulty =
      config.appendErrorRate > 0 || config.lostAckRate > 0 || config.fenced || config.appendDelayMs > 0;
  }
}

function checkRate(channel: string, field: string, rate: number): number {
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
    throw invalid(channel, `${field} must be a number in [0, 1], got ${String(rate)}`);
  }
  return rate;
}

function checkDelay(channel: string, field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(channel, `${field} must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

function invalid(channel: string, message: string): WalError {
  return new WalError('INVALID_ARGUMENT', `faults of pchannel ${channel}: ${message}`, {
    details: { channel },
  });
}
