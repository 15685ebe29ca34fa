import { type MessageID, WalError } from '@walstream/core';
import { dataMessage } from './messages.js';
import type { WalImplsTestContext } from './types.js';

/** What a frozen writer's caller was told about one append, and whether it was told after the resume. */
export type FrozenWriterOutcome =
  | { readonly seq: number; readonly resumed: boolean; readonly ok: true; readonly id: MessageID }
  | {
      readonly seq: number;
      readonly resumed: boolean;
      readonly ok: false;
      readonly code: string;
      readonly retriable: boolean;
      /** The rejection's `details.written` as the adapter set it (`undefined` when it did not). */
      readonly written: unknown;
      readonly error: unknown;
    };

/** A writer the `fencing` group's frozen-writer case stops and resumes. */
export interface FreezableWriter {
  /** Resolves once the writer is stopped (after the acknowledgements `start` asked for). */
  readonly frozen: Promise<void>;
  /** Lets the writer go on (a freezer may first keep it stopped for a while: past its timeouts). */
  resume(): Promise<void>;
  /** Every append's outcome, once each append loop ended at a rejection that is not retriable. */
  readonly finished: Promise<readonly FrozenWriterOutcome[]>;
}

/**
 * Stops a writer the way a paused process (SIGSTOP, a long GC pause, a starved VM) is stopped, so the
 * suite can open and write a newer term meanwhile and then see what the resumed writer tells its
 * callers. The writer appends `dataMessage(name, term, seq)` with `inFlight` appends in flight, one loop
 * each; a loop goes on after a retriable rejection and ends at the first one that is not.
 */
export interface WriterFreezer {
  /** How it stops a writer; named in the case's failure messages. */
  readonly description: string;
  /** Opens `name` read-write at `term` in the writer and starts its append loops. */
  start(t: WalImplsTestContext, options: FreezerStart): Promise<FreezableWriter>;
}

export interface FreezerStart {
  readonly name: string;
  readonly term: bigint;
  /** The writer stops once this many of its appends were acknowledged. */
  readonly freezeAfterAcks: number;
  /** Append loops, each with one append in flight. */
  readonly inFlight: number;
}

/** Appends per writer before the case gives up on it ever learning it was fenced. */
const MAX_APPENDS = 20_000;

/**
 * The suite's default: the writer's callers stop in the same process. Frozen, the append loops issue
 * nothing new and hold back what they are told about appends already in flight; the adapter itself runs
 * on (its timers, its connections), which a paused process would not. For a stop of the adapter's own
 * machinery, give the suite a `writerFreezer` that runs the writer in a child process and stops it with
 * SIGSTOP (see the Kafka and Pulsar adapters' frozen-writer tests).
 */
export const inProcessWriterFreezer: WriterFreezer = {
  description: 'the append loops paused in-process (the adapter runs on)',
  async start(t, { name, term, freezeAfterAcks, inFlight }) {
    const wal = await t.open(name, term);
    const outcomes: FrozenWriterOutcome[] = [];
    let acks = 0;
    let next = 0;
    let resumed = false;
    let gate: Promise<void> | undefined;
    let open: () => void = () => undefined;
    let markFrozen: () => void = () => undefined;
    const frozen = new Promise<void>((resolve) => {
      markFrozen = resolve;
    });
    const loop = async (): Promise<void> => {
      for (;;) {
        if (gate) await gate;
        if (t.signal.aborted || next >= MAX_APPENDS) return;
        const seq = next++;
        let outcome: FrozenWriterOutcome;
        try {
          const id = await wal.append(dataMessage(name, term, seq));
          outcome = { seq, resumed: false, ok: true, id };
        } catch (error) {
          const coded = WalError.is(error) ? error : undefined;
          outcome = {
            seq,
            resumed: false,
            ok: false,
            code: coded?.code ?? 'not a WalError',
            retriable: coded?.retriable ?? false,
            written: coded?.details.written,
            error,
          };
        }
        // A stopped caller learns the answer only once it runs again.
        if (gate) await gate;
        outcomes.push({ ...outcome, resumed });
        if (outcome.ok && ++acks === freezeAfterAcks) {
          gate = new Promise<void>((resolve) => {
            open = resolve;
          });
          markFrozen();
        }
        if (!outcome.ok && !outcome.retriable) return;
      }
    };
    const finished = Promise.all(Array.from({ length: inFlight }, loop)).then(() => outcomes);
    return {
      frozen,
      async resume() {
        resumed = true;
        gate = undefined;
        open();
      },
      finished,
    };
  },
};
