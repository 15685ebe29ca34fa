import { WalError } from '@walstream/core';
import { booleanOption, checkKnownKeys, numberOption } from '@walstream/core/internal';
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

const FAULT_KEYS: readonly (keyof FaultConfig)[] = [
  'appendErrorRate',
  'lostAckRate',
  'fenced',
  'appendDelayMs',
  'readDelayMs',
];

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

  /**
   * Changes the fields given in `faults`; the others keep their value. Returns `this` for chaining. An
   * unknown field or a value out of range throws INVALID_ARGUMENT naming it, and changes nothing.
   */
  set(faults: FaultConfig): this {
    const where = `faults(${JSON.stringify(this.channel)}).set`;
    checkKnownKeys(where, faults, FAULT_KEYS);
    const now = this.#config;
    this.#apply(
      Object.freeze({
        appendErrorRate: rate(where, 'appendErrorRate', faults.appendErrorRate, now.appendErrorRate),
        lostAckRate: rate(where, 'lostAckRate', faults.lostAckRate, now.lostAckRate),
        fenced: booleanOption(where, 'fenced', faults.fenced, now.fenced),
        appendDelayMs: numberOption(where, 'appendDelayMs', faults.appendDelayMs, now.appendDelayMs),
        readDelayMs: numberOption(where, 'readDelayMs', faults.readDelayMs, now.readDelayMs),
      }),
    );
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

/** A probability: a number in [0, 1], or `fallback` when absent. */
function rate(where: string, name: string, value: unknown, fallback: number): number {
  const resolved = numberOption(where, name, value, fallback, 0);
  if (resolved > 1) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: option ${name} must be a number in [0, 1], got ${resolved}`,
      {
        retriable: false,
        details: { option: name },
      },
    );
  }
  return resolved;
}
