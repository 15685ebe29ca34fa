import {
  hasCode,
  type ImmutableMessage,
  type MessageID,
  type MutableMessage,
  newMessage,
  SystemMessageType,
} from '@walstream/core';
import { delay } from '@walstream/core/internal';
import type { Observability } from '@walstream/core/spi';
import type { OwnMessages } from '../own-messages.js';
import type { WriteAheadBuffer } from '../wab/write-ahead-buffer.js';
import type { AckDetail, AckManager } from './ack-manager.js';

/** What a TimeTick sync made visible: the messages it covers (ascending timetick) and the tick. */
export type SyncListener = (messages: readonly ImmutableMessage[], tick: ImmutableMessage) => void;

export interface SyncOperatorOptions {
  readonly pchannel: string;
  readonly ackManager: AckManager;
  readonly wab: WriteAheadBuffer;
  readonly own: OwnMessages;
  /** Appends a tick through the full WAL (all interceptors); resolves its id. */
  readonly append: (tick: MutableMessage) => Promise<MessageID>;
  readonly gapMs: number;
  readonly idleIntervalMs: number;
  /**
   * Acks pending before a sync runs at once (on a microtask) instead of after the gap: a producer whose
   * appends resolve without I/O never yields to timers, and its appends must still become visible.
   */
  readonly maxPendingAcks: number;
  readonly onSynced?: SyncListener;
  /** Where failed syncs (retried) are reported and syncs counted. */
  readonly observability: Observability;
}

/** Failures after which no later sync can succeed either. */
const FINAL = ['ON_SHUTDOWN', 'CLOSED', 'CHANNEL_FENCED', 'READ_ONLY'] as const;

/**
 * Writes TimeTick sync messages: "every message with tt ≤ X is now visible". Unlike the original's fixed
 * 200 ms inspector, a sync is scheduled as soon as an append is acknowledged, `gapMs` later, so a burst
 * shares one tick and a lone append becomes visible within about a millisecond. While idle, a
 * non-persisted tick every `idleIntervalMs` keeps readers' time moving without writing anything.
 *
 * One sync at a time: acks arriving during a sync schedule the next one. A failed sync keeps its details
 * for the next round, so no acknowledged message is ever left uncovered.
 */
export class TimeTickSyncOperator {
  readonly #options: SyncOperatorOptions;
  #pending: AckDetail[] = [];
  #running: Promise<void> | undefined;
  #again = false;
  #timer: { cancel(): void } | undefined;
  #idle: NodeJS.Timeout | undefined;
  #lastSyncAt = 0;
  #stopped = false;
  #failures = 0;
  #syncs = 0;
  /** Acks since the running (or last) sync started. */
  #pendingAcks = 0;
  #microtaskQueued = false;
  readonly #written: ReturnType<Observability['meter']['createCounter']>;

  constructor(options: SyncOperatorOptions) {
    this.#options = options;
    this.#written = options.observability.meter.createCounter('walstream.timetick.syncs', {
      description: 'TimeTick sync messages written (persisted, or passed through the chain only)',
    });
  }

  /** Ticks written so far (persisted or not). */
  get syncCount(): number {
    return this.#syncs;
  }

  /** Starts the idle ticker. */
  start(): void {
    if (this.#stopped || this.#idle) return;
    const interval = this.#options.idleIntervalMs;
    this.#idle = setInterval(() => {
      if (this.#running || this.#timer || performance.now() - this.#lastSyncAt < interval) return;
      void this.sync();
    }, interval);
    this.#idle.unref?.();
  }

  /** An append was acknowledged: make it visible soon. */
  notify(): void {
    if (this.#stopped) return;
    this.#pendingAcks++;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#pendingAcks >= this.#options.maxPendingAcks) {
      if (!this.#microtaskQueued) {
        this.#microtaskQueued = true;
        queueMicrotask(() => {
          this.#microtaskQueued = false;
          void this.sync();
        });
      }
      return;
    }
    this.#schedule(this.#options.gapMs);
  }

  /** Runs one sync now (or joins the one running). Never rejects: failures are retried later. */
  sync(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#clearTimer();
    this.#pendingAcks = 0;
    this.#running = this.#run(this.#options.append).finally(() => {
      this.#running = undefined;
      this.#lastSyncAt = performance.now();
      if (this.#again && !this.#stopped) {
        this.#again = false;
        if (this.#pendingAcks >= this.#options.maxPendingAcks) queueMicrotask(() => void this.sync());
        else this.#schedule(this.#options.gapMs);
      }
    });
    return this.#running;
  }

  /**
   * Stops scheduling, waits for the running sync and (bounded) for in-flight appends, then writes one
   * last tick through `appendDirect` if any message is still uncovered — the WAL no longer accepts
   * appends of its own while closing.
   */
  async finalSync(
    appendDirect: (tick: MutableMessage) => Promise<MessageID>,
    timeoutMs: number,
  ): Promise<void> {
    this.stop();
    await this.#running;
    const timeout = new AbortController();
    await Promise.race([
      this.#options.ackManager.whenIdle(),
      delay(timeoutMs, timeout.signal).catch(() => undefined),
    ]);
    timeout.abort();
    await this.#run(appendDirect, true);
  }

  stop(): void {
    this.#stopped = true;
    this.#clearTimer();
    if (this.#idle) clearInterval(this.#idle);
    this.#idle = undefined;
  }

  async #run(append: (tick: MutableMessage) => Promise<MessageID>, onlyIfPersisted = false): Promise<void> {
    const { ackManager, own } = this.#options;
    try {
      const details = await ackManager.syncAndTakeAcknowledged();
      for (const detail of details) this.#pending.push(detail);
      const pending = this.#pending;
      if (pending.length === 0) return;
      const persist = pending.some((detail) => !detail.sync);
      if (onlyIfPersisted && !persist) return;
      let lastConfirmed = pending[0]!.lastConfirmed;
      for (const detail of pending) {
        if (detail.lastConfirmed.compare(lastConfirmed) < 0) lastConfirmed = detail.lastConfirmed;
      }
      const tick = newMessage(SystemMessageType.TimeTick)
        .allVChannels()
        .build()
        .withTimeTick(pending[pending.length - 1]!.beginTimeTick)
        .withLastConfirmed(lastConfirmed);
      if (persist) own.mark(tick);
      else own.markNotPersisted(tick.withNotPersisted(), lastConfirmed);
      const id = await append(tick);
      const immutable = tick.intoImmutable(id);
      const covered: ImmutableMessage[] = [];
      const timeTicks: bigint[] = [];
      // Appends that failed yet may be in the log: the write-ahead buffer sends readers to the store there.
      const unknown: bigint[] = [];
      for (const detail of pending) {
        if (detail.mayHaveLanded) unknown.push(detail.beginTimeTick);
        if (!detail.message) continue;
        covered.push(detail.message);
        timeTicks.push(detail.beginTimeTick);
      }
      this.#pending = [];
      this.#syncs++;
      this.#written.add(1, { pchannel: this.#options.pchannel, persisted: persist });
      this.#failures = 0;
      this.#options.wab.push(covered, immutable, timeTicks, unknown);
      this.#options.onSynced?.(covered, immutable);
    } catch (error) {
      if (hasCode(error, ...FINAL)) {
        this.stop();
        return;
      }
      // Keep the details; retry with a growing pause so a persistent failure does not spin.
      this.#options.observability.reportError({
        error,
        component: 'timeTick',
        pchannel: this.#options.pchannel,
        retrying: !this.#stopped,
      });
      this.#failures++;
      if (!this.#stopped) this.#schedule(Math.min(1_000, 2 ** this.#failures));
    }
  }

  #schedule(delayMs: number): void {
    if (this.#timer || this.#stopped) return;
    const fire = (): void => {
      this.#timer = undefined;
      void this.sync();
    };
    if (delayMs <= 0) {
      const immediate = setImmediate(fire);
      this.#timer = { cancel: () => clearImmediate(immediate) };
    } else {
      // Not unref'd: it makes acknowledged appends visible, real work that must not be dropped at exit.
      const timer = setTimeout(fire, delayMs);
      this.#timer = { cancel: () => clearTimeout(timer) };
    }
  }

  #clearTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
