import type { AppendResult } from '@walstream/core';
import { WalError } from '@walstream/core';

/** The bounds of one WAL's deduplication window (see `IdempotenceOptions`). */
export interface DedupBounds {
  /** Sequences kept per producer: the highest seen and the `maxSequences - 1` below it. */
  readonly maxSequences: number;
  /** How long an answer is kept after its append was admitted (or, rebuilt from the log, written). */
  readonly maxAgeMs: number;
  /** Producers kept per WAL; the least recently active one leaves first. */
  readonly maxProducers: number;
}

/** An idempotent append's identity. */
export interface ProducerSequence {
  readonly producerId: string;
  readonly sequence: bigint;
}

/** Why a waiting repeat must look again: the append it waited for did not leave an answer. */
export type SlotFailure = 'not-written' | 'unknown';

/** An append in flight; who waits for it is called back when it ends (no promise unless someone waits). */
interface PendingSlot {
  readonly state: 'pending';
  readonly atMs: number;
  waiters: ((outcome: AppendResult | SlotFailure) => void)[] | undefined;
}

type Slot =
  | PendingSlot
  | { state: 'done'; readonly atMs: number; readonly result: AppendResult }
  | { state: 'unknown'; readonly atMs: number };

/** What `admit` decided. */
export type Admission =
  /** First sight of this sequence (or its last try did not land): write it, then settle or fail. */
  | { readonly kind: 'fresh'; settle(result: AppendResult): void; fail(outcome: SlotFailure): void }
  /** Written already: the answer is the first append's result. */
  | { readonly kind: 'done'; readonly result: AppendResult }
  /** The first append is still in flight: wait for it, then admit again if it did not land. */
  | { readonly kind: 'pending'; readonly settled: Promise<AppendResult | SlotFailure> }
  /** An earlier try failed with its outcome unknown: only the log can tell. */
  | { readonly kind: 'unknown' };

class ProducerState {
  /** Every sequence at or below it is beyond the window: its outcome is no longer known here. */
  floor = 0n;
  highest = 0n;
  lastMs = 0;
  readonly slots = new Map<bigint, Slot>();
}

/**
 * The deduplication window of one WAL: per producer, the answer (or the append in flight) of each of its
 * latest sequences. It is pure bookkeeping — the caller writes to the WAL — so it can be checked alone.
 *
 * A sequence inside the window that was never seen is fresh, whatever its order: a producer keeps several
 * appends in flight and their retries may come in any order. A sequence at or below the window's floor
 * (more than `maxSequences` below the highest, or kept longer than `maxAgeMs`) cannot be told apart from
 * a repeat any more, and a sequence more than `maxSequences` above the highest skipped more than the
 * window: both are refused with INVALID_REQUEST_SEQ, not retriable.
 */
export class DedupWindow {
  readonly #bounds: DedupBounds;
  /** In least-recently-active order: a producer is moved to the end whenever it appends. */
  readonly #producers = new Map<string, ProducerState>();
  #nextSweepMs = 0;
  /** The producer at the end of `#producers`. */
  #newest: string | undefined;

  constructor(bounds: DedupBounds) {
    this.#bounds = bounds;
  }

  get producerCount(): number {
    return this.#producers.size;
  }

  /** Decides what to do with `key` at `nowMs`; throws INVALID_REQUEST_SEQ outside the window. */
  admit(key: ProducerSequence, nowMs: number): Admission {
    this.#sweep(nowMs);
    const state = this.#touch(key.producerId, nowMs);
    const { sequence } = key;
    const existing = state.slots.get(sequence);
    if (existing && existing.atMs + this.#bounds.maxAgeMs < nowMs) this.#forget(state, sequence);
    else if (existing?.state === 'done') return { kind: 'done', result: existing.result };
    else if (existing?.state === 'pending') return { kind: 'pending', settled: waitFor(existing) };
    else if (existing?.state === 'unknown') return { kind: 'unknown' };
    const { maxSequences } = this.#bounds;
    if (sequence <= state.floor || sequence <= state.highest - BigInt(maxSequences)) {
      throw outOfWindow(
        key,
        state,
        'is below the deduplication window: whether it was written is no longer known',
        'unknown',
      );
    }
    if (state.highest > 0n && sequence > state.highest + BigInt(maxSequences)) {
      throw outOfWindow(key, state, `skips more than ${maxSequences} sequences past the highest seen`, false);
    }
    const slot: PendingSlot = { state: 'pending', atMs: nowMs, waiters: undefined };
    const resolve = (outcome: AppendResult | SlotFailure): void => {
      const waiters = slot.waiters;
      slot.waiters = undefined;
      if (waiters) for (const wake of waiters) wake(outcome);
    };
    this.#put(state, sequence, slot);
    return {
      kind: 'fresh',
      settle: (result) => {
        if (state.slots.get(sequence) === slot)
          state.slots.set(sequence, { state: 'done', atMs: slot.atMs, result });
        resolve(result);
      },
      fail: (outcome) => {
        if (state.slots.get(sequence) === slot) {
          if (outcome === 'not-written') state.slots.delete(sequence);
          else state.slots.set(sequence, { state: 'unknown', atMs: slot.atMs });
        }
        resolve(outcome);
      },
    };
  }

  /** Records an append found in the log (rebuilding the window); `atMs` is when it was written. */
  load(key: ProducerSequence, result: AppendResult, atMs: number, nowMs: number): void {
    if (atMs + this.#bounds.maxAgeMs < nowMs) return;
    const state = this.#touch(key.producerId, atMs);
    const existing = state.slots.get(key.sequence);
    // A store that wrote one append twice (a retry below the node) is answered with the first copy.
    if (existing?.state === 'done' || key.sequence <= state.floor) return;
    this.#put(state, key.sequence, { state: 'done', atMs, result });
  }

  /**
   * Carries the answers and the appends in flight here over to `rebuilt` (a window read again from the
   * log up to some timetick), so an append answered or landing after that point still answers its
   * repeats. Unknown outcomes stay behind: the log has settled them. What the log showed wins.
   */
  handOverTo(rebuilt: DedupWindow): void {
    for (const [producerId, state] of this.#producers) {
      for (const [sequence, slot] of state.slots) {
        if (slot.state === 'unknown') continue;
        const target = rebuilt.#touch(producerId, state.lastMs);
        if (target.slots.has(sequence) || sequence <= target.floor) continue;
        rebuilt.#put(target, sequence, slot);
        if (slot.state === 'done') continue;
        // Settles into whichever window holds the slot now.
        onSettled(slot, (outcome) => {
          if (target.slots.get(sequence) !== slot) return;
          if (outcome === 'not-written') target.slots.delete(sequence);
          else if (outcome === 'unknown') target.slots.set(sequence, { state: 'unknown', atMs: slot.atMs });
          else target.slots.set(sequence, { state: 'done', atMs: slot.atMs, result: outcome });
        });
      }
    }
  }

  #touch(producerId: string, nowMs: number): ProducerState {
    let state = this.#producers.get(producerId);
    if (state && this.#newest === producerId) {
      // Already the most recently active: the common case of one busy producer costs no reordering.
      if (nowMs > state.lastMs) state.lastMs = nowMs;
      return state;
    }
    if (state) this.#producers.delete(producerId);
    else state = new ProducerState();
    state.lastMs = Math.max(state.lastMs, nowMs);
    this.#producers.set(producerId, state);
    this.#newest = producerId;
    if (this.#producers.size > this.#bounds.maxProducers) {
      const [oldest] = this.#producers.keys();
      if (oldest !== undefined) this.#producers.delete(oldest);
    }
    return state;
  }

  #put(state: ProducerState, sequence: bigint, slot: Slot): void {
    state.slots.set(sequence, slot);
    if (sequence > state.highest) state.highest = sequence;
    const floor = state.highest - BigInt(this.#bounds.maxSequences);
    if (floor > state.floor) state.floor = floor;
    // Amortised: pruning walks every slot, so it runs once a quarter of the window has piled up.
    if (state.slots.size > this.#bounds.maxSequences + (this.#bounds.maxSequences >> 2)) this.#prune(state);
  }

  #forget(state: ProducerState, sequence: bigint): void {
    state.slots.delete(sequence);
    if (sequence > state.floor) state.floor = sequence;
  }

  #prune(state: ProducerState): void {
    for (const sequence of state.slots.keys()) if (sequence <= state.floor) state.slots.delete(sequence);
  }

  /** Producers idle longer than `maxAgeMs` leave, at most once per eighth of it. */
  #sweep(nowMs: number): void {
    if (nowMs < this.#nextSweepMs) return;
    this.#nextSweepMs = nowMs + Math.max(1, Math.floor(this.#bounds.maxAgeMs / 8));
    const before = nowMs - this.#bounds.maxAgeMs;
    for (const [producerId, state] of this.#producers) {
      if (state.lastMs >= before) break;
      if ([...state.slots.values()].some((slot) => slot.state === 'pending')) continue;
      this.#producers.delete(producerId);
    }
  }
}

function onSettled(slot: PendingSlot, wake: (outcome: AppendResult | SlotFailure) => void): void {
  if (slot.waiters) slot.waiters.push(wake);
  else slot.waiters = [wake];
}

function waitFor(slot: PendingSlot): Promise<AppendResult | SlotFailure> {
  return new Promise((resolve) => onSettled(slot, resolve));
}

function outOfWindow(
  key: ProducerSequence,
  state: ProducerState,
  why: string,
  written: false | 'unknown',
): WalError {
  return new WalError(
    'INVALID_REQUEST_SEQ',
    `idempotent append ${key.producerId}#${key.sequence} ${why} (highest ${state.highest})`,
    {
      retriable: false,
      details: {
        producerId: key.producerId,
        sequence: key.sequence,
        highest: state.highest,
        written,
      },
    },
  );
}
