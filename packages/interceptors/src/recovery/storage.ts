import {
  type Catalog,
  type ImmutableMessage,
  type MessageID,
  unmarshalMessageId,
  type WalCheckpoint,
} from '@walstream/core';
import type { Observability } from '@walstream/core/spi';
import { type Observable, Subject } from 'rxjs';
import { ShardState, type ShardStateJson } from '../shard/state.js';
import type { RecoveryTxnBuffer } from './txn-buffer.js';

/**
 * The checkpoint record this package writes. Core's {@link WalCheckpoint} has no room for the derived
 * state that is not in the log after the checkpoint (vchannels, segments), so it rides along in two extra
 * fields of the same record: one write, so the checkpoint can never be ahead of the state it goes with.
 */
export interface SemanticsCheckpoint extends WalCheckpoint {
  /** JSON of the shard state at `timeTick` ({@link ShardStateJson}). */
  readonly semanticsState?: string;
  /**
   * JSON `{"messageId": <marshalled>, "timeTick": "<decimal>"}`: the position up to which the node's flush
   * sinks made every message durable (set through {@link WalCheckpoints.advanceFlushed}); absent when no
   * flusher ever reported one. Carried over unchanged by every save until the flusher moves it.
   */
  readonly flushed?: string;
}

export interface Checkpoint {
  readonly lastConfirmed: MessageID;
  readonly timeTick: bigint;
}

export interface LoadedCheckpoint {
  readonly checkpoint: Checkpoint | undefined;
  readonly state: ShardState;
  readonly flushed: Checkpoint | undefined;
}

/** A checkpoint record as saved: the recovery checkpoint and the flushed position it carried. */
export interface SavedRecord {
  readonly checkpoint: Checkpoint;
  readonly flushed: Checkpoint | undefined;
}

/** The checkpoint record of `pchannel`, if any, with the shard state saved beside it. */
export async function loadCheckpoint(catalog: Catalog, pchannel: string): Promise<LoadedCheckpoint> {
  const record = (await catalog.getCheckpoint(pchannel)) as SemanticsCheckpoint | undefined;
  if (!record) return { checkpoint: undefined, state: new ShardState(), flushed: undefined };
  const state = record.semanticsState
    ? ShardState.fromJSON(JSON.parse(record.semanticsState) as ShardStateJson)
    : new ShardState();
  return {
    checkpoint: {
      lastConfirmed: unmarshalMessageId(record.walName, record.messageId),
      timeTick: record.timeTick,
    },
    state,
    flushed: record.flushed ? decodeFlushed(record.walName, record.flushed) : undefined,
  };
}

function decodeFlushed(walName: string, json: string): Checkpoint {
  const raw = JSON.parse(json) as { messageId: string; timeTick: string };
  return { lastConfirmed: unmarshalMessageId(walName, raw.messageId), timeTick: BigInt(raw.timeTick) };
}

function encodeFlushed(flushed: Checkpoint): string {
  return JSON.stringify({
    messageId: flushed.lastConfirmed.marshal(),
    timeTick: flushed.timeTick.toString(),
  });
}

export interface RecoveryStorageOptions {
  readonly catalog: Catalog;
  readonly pchannel: string;
  readonly term: bigint;
  readonly state: ShardState;
  readonly txns: RecoveryTxnBuffer;
  readonly checkpoint: Checkpoint;
  /** The flushed position loaded with the checkpoint; the saves carry it until it is advanced. */
  readonly flushed?: Checkpoint;
  readonly persistIntervalMs: number;
  readonly maxDirtyMessages: number;
  readonly observability: Observability;
}

/**
 * Keeps the derived state (vchannels, segments) in step with what TimeTick syncs made visible, and
 * persists it with the checkpoint: on an interval, or as soon as enough messages were applied. Fed in
 * timetick order by the sync, it applies a txn only at its commit, so the checkpoint (LC, tt) always
 * describes exactly the state saved with it, and replay from LC with tt > checkpoint rebuilds the rest.
 */
export class RecoveryStorage {
  readonly #options: RecoveryStorageOptions;
  readonly #state: ShardState;
  readonly #txns: RecoveryTxnBuffer;
  #checkpoint: Checkpoint;
  #persisted: Checkpoint | undefined;
  #flushed: Checkpoint | undefined;
  #persistedFlushed: Checkpoint | undefined;
  #lastSyncedTimeTick: bigint | undefined;
  #saved: SavedRecord | undefined;
  readonly #saved$ = new Subject<SavedRecord>();
  #dirty = 0;
  #timer: NodeJS.Timeout | undefined;
  #persisting: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  /** The persist running now is the last one (close): a failure is not tried again. */
  #closing = false;
  /** An append that may have landed was not applied: the checkpoint stays before it (see holdBack). */
  #heldBack = false;
  #persists = 0;
  readonly #saves: ReturnType<Observability['meter']['createCounter']>;

  constructor(options: RecoveryStorageOptions) {
    this.#options = options;
    this.#state = options.state;
    this.#txns = options.txns;
    this.#checkpoint = options.checkpoint;
    this.#flushed = options.flushed;
    this.#persistedFlushed = options.flushed;
    this.#saves = options.observability.meter.createCounter('walstream.checkpoint.saves', {
      description: 'Checkpoints (with the shard state) saved to the catalog',
    });
  }

  get checkpoint(): Checkpoint {
    return this.#checkpoint;
  }

  /** The flushed position the next save carries. */
  get flushed(): Checkpoint | undefined {
    return this.#flushed;
  }

  /** The timetick of the last TimeTick sync observed. */
  get lastSyncedTimeTick(): bigint | undefined {
    return this.#lastSyncedTimeTick;
  }

  /** The record as last saved by this term (undefined before the first save). */
  get saved(): SavedRecord | undefined {
    return this.#saved;
  }

  /** Hot: each record saved; completes when the storage stops. */
  get saved$(): Observable<SavedRecord> {
    return this.#saved$.asObservable();
  }

  /**
   * Moves the flushed position forward (a position at or below the current one is ignored); the next
   * save carries it. The caller vouches that every message below it is durable where it flushes to.
   */
  advanceFlushed(position: Checkpoint): void {
    if (this.#flushed && position.timeTick <= this.#flushed.timeTick) return;
    this.#flushed = position;
  }

  get state(): ShardState {
    return this.#state;
  }

  /** Successful persists so far. */
  get persistCount(): number {
    return this.#persists;
  }

  /** Messages applied since the last persist. */
  get dirty(): number {
    return this.#dirty;
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => {
      if (this.#needsSave()) void this.persist();
    }, this.#options.persistIntervalMs);
    this.#timer.unref?.();
  }

  /** What one TimeTick sync covered, in timetick order, and the tick. */
  observe(messages: readonly ImmutableMessage[], tick: ImmutableMessage): void {
    if (this.#stopped) return;
    this.#lastSyncedTimeTick = tick.timeTick;
    if (this.#heldBack) return;
    const apply = (message: ImmutableMessage): void => this.#state.apply(message);
    for (const message of messages) this.#txns.push(message, apply);
    this.#txns.expire(tick.timeTick);
    this.#checkpoint = { lastConfirmed: tick.lastConfirmedId, timeTick: tick.timeTick };
    this.#dirty += messages.length;
    if (this.#dirty >= this.#options.maxDirtyMessages) void this.persist();
  }

  /**
   * An append at `timeTick` failed but may be in the log (the WAL closed before it was confirmed). No
   * TimeTick covered it yet, so the checkpoint is still below it; it stays there for the rest of this
   * term, with the state that goes with it, and the next term replays from there — applying the append
   * if it landed. (The runtime carries such appends through until they land, so this happens on close.)
   */
  holdBack(timeTick: bigint): void {
    if (this.#heldBack) return;
    this.#heldBack = true;
    this.#options.observability.logger.info(
      { pchannel: this.#options.pchannel, timeTick, checkpointTimeTick: this.#checkpoint.timeTick },
      'an append may have landed unconfirmed: the checkpoint stays before it for the next term to replay',
    );
  }

  /** Saves state and checkpoint in one catalog write. Concurrent calls coalesce; failures are retried later. */
  persist(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#persisting) {
      this.#again = true;
      return this.#persisting;
    }
    this.#persisting = this.#persistOnce().finally(() => {
      this.#persisting = undefined;
      if (this.#again) {
        this.#again = false;
        void this.persist();
      }
    });
    return this.#persisting;
  }

  /** Stops persisting (the WAL was fenced: a newer term owns the checkpoint now). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#saved$.complete();
  }

  #needsSave(): boolean {
    return (
      this.#dirty > 0 || this.#persisted !== this.#checkpoint || this.#persistedFlushed !== this.#flushed
    );
  }

  /** Final persist, then stop. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#persisting;
    if (!this.#stopped && this.#needsSave()) await this.persist();
    this.stop();
  }

  async #persistOnce(): Promise<void> {
    // State and checkpoint are captured together, before any await lets another sync apply more.
    const checkpoint = this.#checkpoint;
    const flushed = this.#flushed;
    const dirty = this.#dirty;
    const { catalog, pchannel, term } = this.#options;
    const record: SemanticsCheckpoint = {
      messageId: checkpoint.lastConfirmed.marshal(),
      walName: checkpoint.lastConfirmed.walName,
      timeTick: checkpoint.timeTick,
      term,
      semanticsState: JSON.stringify(this.#state.toJSON()),
      ...(flushed ? { flushed: encodeFlushed(flushed) } : {}),
    };
    try {
      if (!(await catalog.saveCheckpoint(pchannel, record))) {
        // A newer term took over; the catalog refused to roll its checkpoint back.
        this.stop();
        return;
      }
      this.#persisted = checkpoint;
      this.#persistedFlushed = flushed;
      this.#dirty -= dirty;
      this.#persists++;
      this.#saves.add(1, { pchannel });
      this.#saved = { checkpoint, flushed };
      this.#saved$.next(this.#saved);
    } catch (error) {
      // The state stays dirty: the next interval or dirty threshold tries again (unless this was the last).
      this.#options.observability.reportError({
        error,
        component: 'checkpoint',
        pchannel,
        retrying: !this.#closing,
      });
    }
  }
}
