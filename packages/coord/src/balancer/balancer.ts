import {
  type BalancePolicy,
  type CurrentLayout,
  hasCode,
  type PChannelInfo,
  type PChannelMeta,
  type PChannelStatus,
  WalError,
} from '@walstream/core';
import { checkKnownKeys, delay, functionOption, integerOption } from '@walstream/core/internal';
import { noObservability, type Observability } from '@walstream/core/spi';
import { BehaviorSubject, type Observable, Subject, type Subscription } from 'rxjs';
import type { ChannelManager, LayoutVersion } from '../channel/channel-manager.js';
import type { SessionDirectory } from '../nodes/in-process-sessions.js';
import type { NodeSession, NodeStatusReport } from '../nodes/node-client.js';
import type { NodeMarks } from './marks.js';
import { settle } from './settle.js';

/** Why the balancer moves a pchannel. */
export type MoveReason =
  | 'unassigned'
  | 'node-lost'
  | 'node-stopping'
  | 'node-unhealthy'
  | 'drain'
  | 'report-error'
  | 'wal-lost'
  | 'resume'
  | 'rebalance';

/** One step of one pchannel's move. */
export interface MoveEvent {
  readonly pchannel: string;
  /** The owner before the move; absent for a pchannel that had none. */
  readonly from?: string;
  readonly to: string;
  /** The term the new owner opens at, once saved. */
  readonly term?: bigint;
  readonly reason: MoveReason;
  /**
   * `started`; `retrying` after a failed attempt (`error` says why); `done` once the new owner reported
   * the WAL ready and ASSIGNED was saved; `superseded` when a newer decision replaced this one.
   */
  readonly outcome: 'started' | 'retrying' | 'done' | 'superseded';
  readonly error?: WalError;
}

/** A node as the balancer sees it. */
export interface NodeView {
  readonly nodeId: string;
  readonly address?: string;
  readonly stopping: boolean;
  /** Takes no new pchannels; keeps those it has. */
  readonly frozen: boolean;
  /** Its pchannels are moving away, and none come to it. */
  readonly draining: boolean;
  /** False when its last status call failed or timed out. */
  readonly healthy: boolean;
}

/** The versioned assignment clients follow: ASSIGNED pchannels only. */
export interface Layout {
  readonly version: LayoutVersion;
  readonly nodes: readonly { readonly nodeId: string; readonly address?: string }[];
  readonly assignments: readonly { readonly pchannel: PChannelInfo; readonly nodeId: string }[];
}

export interface BackoffSettings {
  readonly initialMs?: number;
  readonly maxMs?: number;
}

export interface BalancerOptions {
  readonly channels: ChannelManager;
  readonly sessions: SessionDirectory;
  readonly policy: BalancePolicy;
  /** Least time between two balance moves of one pchannel; a move forced by its node is never held. Default 300 000. */
  readonly minMoveIntervalMs?: number;
  /** A balance round runs at least this often. Default 60 000. */
  readonly triggerIntervalMs?: number;
  /** Bound of one call to a node (assign, remove) and of the wait for a WAL to become ready. Default 30 000. */
  readonly operationTimeoutMs?: number;
  /** Bound of a node's status call while planning; a node that misses it is unhealthy for that round. Default 2 000. */
  readonly statusTimeoutMs?: number;
  /** Retries of a failed move step, per pchannel. Default 50 ms doubling to 5 s. */
  readonly backoff?: BackoffSettings;
  /** The vchannels of each pchannel, with their collection, for policies that weigh them. */
  readonly vchannels?: (
    pchannel: string,
  ) => readonly { readonly name: string; readonly collection: string }[];
  /** Freeze and drain marks saved by an earlier coordinator, applied to the nodes still in session. */
  readonly initialMarks?: NodeMarks;
  /** Saves the whole set of marks after each freeze, drain and their undoing, before it takes effect. */
  readonly saveMarks?: (marks: NodeMarks) => Promise<void>;
  /** Wall clock in milliseconds; injectable for tests. */
  readonly now?: () => number;
  readonly observability?: Observability;
}

interface InFlight {
  readonly target: string;
  readonly abort: AbortController;
  readonly done: Promise<void>;
  /** A round ran while this move was in flight and could not move the pchannel: plan again after it. */
  replan: boolean;
}

const RELEASED_CODES = ['IGNORED_OPERATION', 'UNMATCHED_CHANNEL_TERM', 'CHANNEL_NOT_EXIST'] as const;

/**
 * Decides where each pchannel lives and moves it there. Planning is one serialized loop, woken by node
 * changes, error reports, drains and freezes, a timer and operators; it asks the policy for the layout it
 * settles on and starts one move per pchannel whose owner differs. Each move runs on its own, with its
 * own retries: save ASSIGNING at term + 1, remove the WAL from every earlier owner that is still alive,
 * assign it to the new owner, wait until that node reports it ready, save ASSIGNED. A slow or dead node
 * holds up only the pchannels it is involved in.
 */
export class Balancer {
  readonly #channels: ChannelManager;
  readonly #policy: BalancePolicy;
  readonly #obs: Observability;
  readonly #now: () => number;
  readonly #minMoveIntervalMs: number;
  readonly #operationTimeoutMs: number;
  readonly #statusTimeoutMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #vchannels: BalancerOptions['vchannels'];
  readonly #sessions = new Map<string, NodeSession>();
  readonly #frozen = new Set<string>();
  readonly #draining = new Set<string>();
  readonly #unhealthy = new Set<string>();
  readonly #inflight = new Map<string, InFlight>();
  readonly #lastMove = new Map<string, number>();
  readonly #nodes = new BehaviorSubject<readonly NodeView[]>([]);
  readonly #layout: BehaviorSubject<Layout>;
  readonly #moves = new Subject<MoveEvent>();
  readonly #subscriptions: Subscription[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #reasons = new Set<string>();
  #planning: Promise<void> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #planFailures = 0;
  #rebalance = true;
  #closed = false;
  readonly #saveMarks: ((marks: NodeMarks) => Promise<void>) | undefined;
  #marksSaved: Promise<void> = Promise.resolve();

  constructor(options: BalancerOptions) {
    const where = 'Balancer';
    checkKnownKeys(where, options, [
      'channels',
      'sessions',
      'policy',
      'minMoveIntervalMs',
      'triggerIntervalMs',
      'operationTimeoutMs',
      'statusTimeoutMs',
      'backoff',
      'vchannels',
      'initialMarks',
      'saveMarks',
      'now',
      'observability',
    ]);
    if (typeof options.policy?.balance !== 'function') {
      throw new WalError('INVALID_ARGUMENT', `${where}: option policy must be a BalancePolicy`, {
        retriable: false,
      });
    }
    this.#channels = options.channels;
    this.#policy = options.policy;
    this.#obs = (options.observability ?? noObservability).child({ component: 'balancer' });
    this.#now = functionOption<() => number>(where, 'now', options.now) ?? Date.now;
    this.#minMoveIntervalMs = integerOption(where, 'minMoveIntervalMs', options.minMoveIntervalMs, 300_000, {
      min: 0,
    });
    const triggerIntervalMs = integerOption(where, 'triggerIntervalMs', options.triggerIntervalMs, 60_000);
    this.#operationTimeoutMs = integerOption(where, 'operationTimeoutMs', options.operationTimeoutMs, 30_000);
    this.#statusTimeoutMs = integerOption(where, 'statusTimeoutMs', options.statusTimeoutMs, 2_000);
    checkKnownKeys(where, options.backoff, ['initialMs', 'maxMs'], 'backoff.');
    this.#backoff = {
      initialMs: integerOption(where, 'backoff.initialMs', options.backoff?.initialMs, 50),
      maxMs: integerOption(where, 'backoff.maxMs', options.backoff?.maxMs, 5_000),
    };
    this.#vchannels = functionOption(where, 'vchannels', options.vchannels);
    this.#saveMarks = functionOption(where, 'saveMarks', options.saveMarks);
    for (const id of options.initialMarks?.frozen ?? []) this.#frozen.add(id);
    for (const id of options.initialMarks?.draining ?? []) this.#draining.add(id);
    // A restarted coordinator does not rebalance at once what the previous one just placed.
    const started = this.#now();
    for (const meta of this.#channels.snapshot.metas) {
      if (meta.nodeId !== undefined) this.#lastMove.set(meta.channel.name, started);
    }
    this.#layout = new BehaviorSubject(this.#layoutOf(this.#channels.snapshot.version));
    this.#subscriptions.push(
      this.#channels.metas$.subscribe((snapshot) => this.#layout.next(this.#layoutOf(snapshot.version))),
      options.sessions.sessions$.subscribe((sessions) => this.#onSessions(sessions)),
    );
    this.#timer = setInterval(() => void this.#wake('timer'), triggerIntervalMs);
    this.#timer.unref?.();
    void this.#wake('start');
  }

  /** The live nodes, with their freeze, drain and health flags; now and after every change. */
  get nodes$(): Observable<readonly NodeView[]> {
    return this.#nodes.asObservable();
  }

  /** The versioned assignment; now and after every change. */
  get layout$(): Observable<Layout> {
    return this.#layout.asObservable();
  }

  /** Every step of every move (hot: no replay). */
  get moves$(): Observable<MoveEvent> {
    return this.#moves.asObservable();
  }

  get layout(): Layout {
    return this.#layout.value;
  }

  /** Runs a balance round; resolves once the round has planned (moves go on). */
  trigger(): Promise<void> {
    return this.#wake('operator');
  }

  /** A client saw `pchannel` fail at `term`: mark it unavailable and let a round reassign it (at a new term). */
  async reportError(pchannel: string, term: bigint): Promise<void> {
    this.#checkOpen();
    if (await this.#channels.markUnavailable(pchannel, term)) await this.#wake('report-error');
  }

  /** Takes no new pchannels on `nodeId`; it keeps those it has. */
  async freeze(nodeId: string): Promise<void> {
    this.#checkOpen();
    await this.#mark(this.#frozen, nodeId, true);
    this.#publishNodes();
    return this.#wake('freeze');
  }

  async unfreeze(nodeId: string): Promise<void> {
    this.#checkOpen();
    await this.#mark(this.#frozen, nodeId, false);
    this.#publishNodes();
    return this.#wake('unfreeze');
  }

  /** Suspends (false) or resumes (true) balance moves; moves away from lost, stopping or draining nodes go on. */
  setRebalance(allowed: boolean): Promise<void> {
    this.#rebalance = allowed;
    return this.#wake('operator');
  }

  /**
   * Moves every pchannel off `nodeId` (each one closed on the node before it opens elsewhere) and keeps
   * new ones away; resolves once the node holds none. `undrain` lets it take pchannels again.
   */
  async drain(nodeId: string, signal?: AbortSignal): Promise<void> {
    this.#checkOpen();
    await this.#mark(this.#draining, nodeId, true);
    this.#publishNodes();
    await this.#wake('drain');
    // Done when the node neither owns nor may still hold any pchannel (every old owner released), and
    // each pchannel it held is ASSIGNED elsewhere.
    const holds = (m: PChannelMeta): boolean =>
      m.nodeId === nodeId || m.history.some((h) => h.nodeId === nodeId);
    await this.#until(
      () =>
        this.#channels.snapshot.metas.every(
          (m) => !holds(m) && (m.state === 'assigned' || m.state === 'uninitialized'),
        ),
      signal,
    );
  }

  async undrain(nodeId: string): Promise<void> {
    await this.#mark(this.#draining, nodeId, false);
    this.#publishNodes();
    return this.#wake('undrain');
  }

  /** Resolves when no round is planning, no move is in flight and every pchannel is ASSIGNED. */
  idle(signal?: AbortSignal): Promise<void> {
    return this.#until(
      () =>
        this.#planning === undefined &&
        this.#inflight.size === 0 &&
        this.#channels.snapshot.metas.every((m) => m.state === 'assigned'),
      signal,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    for (const s of this.#subscriptions) s.unsubscribe();
    for (const move of this.#inflight.values()) move.abort.abort();
    await Promise.allSettled([this.#planning, ...[...this.#inflight.values()].map((m) => m.done)]);
    this.#nodes.complete();
    this.#layout.complete();
    this.#moves.complete();
  }

  /**
   * Sets or clears a mark, saved first when there is a store: a refused save leaves the mark as it was.
   * Saves run one at a time, each with the whole set, so the last one saved is the latest.
   */
  #mark(set: Set<string>, nodeId: string, on: boolean): Promise<void> {
    const run = this.#marksSaved.then(async () => {
      if (set.has(nodeId) === on) return;
      if (this.#saveMarks) {
        const next = new Set(set);
        if (on) next.add(nodeId);
        else next.delete(nodeId);
        const live = (ids: Iterable<string>) => [...ids].filter((id) => this.#sessions.has(id)).sort();
        await this.#saveMarks({
          frozen: live(set === this.#frozen ? next : this.#frozen),
          draining: live(set === this.#draining ? next : this.#draining),
        });
      }
      if (on) set.add(nodeId);
      else set.delete(nodeId);
    });
    this.#marksSaved = run.catch(() => {});
    return run;
  }

  #checkOpen(): void {
    if (this.#closed) throw new WalError('ON_SHUTDOWN', 'the balancer is closed', { retriable: false });
  }

  #onSessions(sessions: readonly NodeSession[]): void {
    const before = new Map(this.#sessions);
    this.#sessions.clear();
    for (const s of sessions) this.#sessions.set(s.nodeId, s);
    for (const id of [...this.#frozen]) if (!this.#sessions.has(id)) this.#frozen.delete(id);
    for (const id of [...this.#draining]) if (!this.#sessions.has(id)) this.#draining.delete(id);
    for (const id of [...this.#unhealthy]) if (!this.#sessions.has(id)) this.#unhealthy.delete(id);
    this.#publishNodes();
    // Watchers see the new node list even when no assignment changes.
    this.#channels.touch();
    const joined = sessions.some((s) => !before.has(s.nodeId));
    const lost = [...before.keys()].some((id) => !this.#sessions.has(id));
    const stopping = sessions.some((s) => s.stopping && before.get(s.nodeId)?.stopping === false);
    if (joined || lost || stopping)
      void this.#wake(lost ? 'node-lost' : stopping ? 'node-stopping' : 'node-joined');
  }

  #publishNodes(): void {
    if (this.#closed) return;
    this.#nodes.next(
      [...this.#sessions.values()].map((s) => ({
        nodeId: s.nodeId,
        ...(s.address === undefined ? {} : { address: s.address }),
        stopping: s.stopping,
        frozen: this.#frozen.has(s.nodeId),
        draining: this.#draining.has(s.nodeId),
        healthy: !this.#unhealthy.has(s.nodeId),
      })),
    );
  }

  #layoutOf(version: LayoutVersion): Layout {
    return {
      version,
      nodes: [...this.#sessions.values()].map((s) => ({
        nodeId: s.nodeId,
        ...(s.address === undefined ? {} : { address: s.address }),
      })),
      assignments: this.#channels.snapshot.metas
        .filter((m) => m.state === 'assigned' && m.nodeId !== undefined)
        .map((m) => ({ pchannel: m.channel, nodeId: m.nodeId as string })),
    };
  }

  /** Queues a round; the returned promise settles when the loop has run it. */
  #wake(reason: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#reasons.add(reason);
    this.#planning ??= this.#loop().finally(() => {
      this.#planning = undefined;
    });
    return this.#planning;
  }

  async #loop(): Promise<void> {
    while (this.#reasons.size > 0 && !this.#closed) {
      const reasons = [...this.#reasons];
      this.#reasons.clear();
      try {
        await this.#plan();
        this.#planFailures = 0;
      } catch (error) {
        this.#obs.reportError({ component: 'balancer', error, retrying: true });
        const wait = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** this.#planFailures++);
        if (this.#retryTimer) clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => void this.#wake(`retry after ${reasons.join(', ')}`), wait);
        this.#retryTimer.unref?.();
      }
    }
  }

  async #plan(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    // Taken before the status calls: a meta ASSIGNED already then was reported ready before them.
    const before = this.#channels.snapshot.metas;
    const reports = await this.#collectHealth(sessions);
    const lost = new Set<string>();
    for (const meta of before) {
      const name = meta.channel.name;
      if (meta.state !== 'assigned' || meta.nodeId === undefined || this.#inflight.has(name)) continue;
      const report = reports.get(meta.nodeId);
      if (!report || this.#channels.get(name) !== meta) continue;
      const wal = report.wals.find((w) => w.pchannel.name === name && w.pchannel.term === meta.channel.term);
      if (wal && wal.state !== 'failed' && wal.state !== 'closed') continue;
      // The node no longer serves what it was given (it restarted, or the WAL failed): open it again at a new term.
      if (await this.#channels.markUnavailable(name, meta.channel.term)) lost.add(name);
    }
    const metas = this.#channels.snapshot.metas;
    const now = this.#now();
    const schedulable = (id: string): boolean => {
      const s = this.#sessions.get(id);
      return (
        s !== undefined &&
        !s.stopping &&
        !this.#unhealthy.has(id) &&
        !this.#draining.has(id) &&
        !this.#frozen.has(id)
      );
    };
    // A frozen node and the pchannels it holds stay out of the policy's sight: they stay as they are.
    const frozenHeld = (m: PChannelMeta): boolean =>
      m.nodeId !== undefined &&
      this.#frozen.has(m.nodeId) &&
      m.state !== 'unavailable' &&
      this.#sessions.get(m.nodeId)?.stopping === false &&
      !this.#unhealthy.has(m.nodeId) &&
      !this.#draining.has(m.nodeId);
    const considered = metas.filter((m) => !frozenHeld(m));
    const layout: CurrentLayout = {
      nodes: sessions
        .filter((s) => !this.#frozen.has(s.nodeId))
        .map((s) => ({ nodeId: s.nodeId, schedulable: schedulable(s.nodeId) })),
      pchannels: considered.map((m) => this.#statusOf(m, now)),
    };
    if (considered.length === 0) return;
    if (!layout.nodes.some((n) => n.schedulable)) {
      throw new WalError('UNAVAILABLE', `no schedulable node for ${considered.length} pchannels`);
    }
    const { expected } = settle(this.#policy, layout);
    for (const meta of considered) {
      const target = expected.get(meta.channel.name);
      if (target === undefined) continue;
      const inflight = this.#inflight.get(meta.channel.name);
      if (inflight) {
        if (inflight.target !== target) inflight.abort.abort();
        else {
          // Its pchannel was not movable in this round (a node that joined now found it in flight): the
          // round after the move sees it placed and may balance it, rather than the next timed round.
          inflight.replan = true;
          continue;
        }
      }
      if (meta.state === 'assigned' && meta.nodeId === target && !inflight) continue;
      this.#startMove(meta, target, lost.has(meta.channel.name) ? 'wal-lost' : this.#reasonFor(meta, target));
    }
  }

  #statusOf(meta: PChannelMeta, now: number): PChannelStatus {
    const name = meta.channel.name;
    const placed = meta.state === 'assigned' || meta.state === 'assigning';
    const vchannels = this.#vchannels?.(name) ?? [];
    const recent = now - (this.#lastMove.get(name) ?? Number.NEGATIVE_INFINITY) < this.#minMoveIntervalMs;
    return {
      name,
      term: meta.channel.term,
      ...(placed && meta.nodeId !== undefined ? { nodeId: meta.nodeId } : {}),
      vchannelCount: vchannels.length,
      ...(vchannels.length > 0 ? { collections: vchannels.map((v) => v.collection) } : {}),
      movable: !this.#inflight.has(name) && !recent && this.#rebalance,
    };
  }

  #reasonFor(meta: PChannelMeta, target: string): MoveReason {
    if (meta.state === 'unavailable') return 'report-error';
    if (meta.nodeId === undefined || meta.state === 'uninitialized') return 'unassigned';
    const session = this.#sessions.get(meta.nodeId);
    if (!session) return 'node-lost';
    if (this.#draining.has(meta.nodeId)) return 'drain';
    if (session.stopping) return 'node-stopping';
    if (this.#unhealthy.has(meta.nodeId)) return 'node-unhealthy';
    if (meta.state === 'assigning' && meta.nodeId === target) return 'resume';
    return 'rebalance';
  }

  /** Every node's status, bounded; a node that fails or misses the bound is unhealthy for the round. */
  async #collectHealth(sessions: readonly NodeSession[]): Promise<Map<string, NodeStatusReport>> {
    const reports = new Map<string, NodeStatusReport>();
    const results = await Promise.all(
      sessions.map(async (s) => {
        try {
          const report = await this.#bounded(
            (signal) => s.client.collectStatus(signal),
            this.#statusTimeoutMs,
            undefined,
            `status of node ${s.nodeId}`,
          );
          reports.set(s.nodeId, report);
          return [s.nodeId, true] as const;
        } catch (error) {
          this.#obs.reportError({ component: 'balancer', error, retrying: true });
          return [s.nodeId, false] as const;
        }
      }),
    );
    let changed = false;
    for (const [id, ok] of results) {
      if (ok === this.#unhealthy.has(id)) changed = true;
      if (ok) this.#unhealthy.delete(id);
      else this.#unhealthy.add(id);
    }
    if (changed) this.#publishNodes();
    return reports;
  }

  #startMove(meta: PChannelMeta, target: string, reason: MoveReason): void {
    const name = meta.channel.name;
    const previous = this.#inflight.get(name);
    const abort = new AbortController();
    // A first placement is not a move that could flap: it does not hold the pchannel in place.
    if (reason !== 'unassigned') this.#lastMove.set(name, this.#now());
    const done = (async () => {
      // A superseded move finishes (or gives up) before its replacement saves a new term.
      if (previous) await previous.done;
      await this.#move(name, meta.nodeId, target, reason, abort.signal);
    })().finally(() => {
      if (this.#inflight.get(name) !== entry) return;
      this.#inflight.delete(name);
      if (entry.replan) void this.#wake('after-move');
    });
    const entry: InFlight = { target, abort, done, replan: false };
    this.#inflight.set(name, entry);
  }

  async #move(
    name: string,
    from: string | undefined,
    to: string,
    reason: MoveReason,
    signal: AbortSignal,
  ): Promise<void> {
    const base = { pchannel: name, ...(from === undefined ? {} : { from }), to, reason };
    this.#moves.next({ ...base, outcome: 'started' });
    let wait = this.#backoff.initialMs;
    let renew = false;
    for (;;) {
      if (signal.aborted || this.#closed) {
        this.#moves.next({ ...base, outcome: 'superseded' });
        return;
      }
      let term: bigint | undefined;
      try {
        const session = this.#sessions.get(to);
        if (!session) {
          throw new WalError('CHANNEL_NOT_EXIST', `target node ${to} of ${name} has no session`, {
            retriable: false,
          });
        }
        const meta = await this.#channels.assign(name, to, { renew });
        renew = false;
        term = meta.channel.term;
        await this.#releaseOldOwners(meta, reason, signal);
        try {
          await this.#bounded(
            (s) => session.client.assign(meta.channel, s),
            this.#operationTimeoutMs,
            signal,
            `assign ${name}@${term} on node ${to}`,
          );
        } catch (error) {
          // The node has this term already (an earlier attempt got through): wait for it like the first time.
          if (!hasCode(error, 'IGNORED_OPERATION')) throw error;
        }
        try {
          await this.#waitReady(session, meta.channel, signal);
        } catch (error) {
          // A node does not open a term again after a failed open: the next attempt uses a new term.
          if (WalError.is(error) && error.details.openFailed === true) renew = true;
          throw error;
        }
        if (await this.#channels.assignDone(name, meta.channel.term)) {
          this.#moves.next({ ...base, term, outcome: 'done' });
        } else {
          this.#moves.next({ ...base, term, outcome: 'superseded' });
        }
        return;
      } catch (error) {
        if (signal.aborted || this.#closed) continue;
        const coded = WalError.is(error) ? error : new WalError('UNKNOWN', String(error), { cause: error });
        if (coded.code === 'CHANNEL_FENCED' && coded.details.catalog === true) {
          // Another coordinator owns the catalog now: retrying would only fight it.
          this.#obs.reportError({ component: 'balancer', pchannel: name, error: coded, retrying: false });
          this.#moves.next({
            ...base,
            ...(term === undefined ? {} : { term }),
            outcome: 'superseded',
            error: coded,
          });
          return;
        }
        this.#moves.next({
          ...base,
          ...(term === undefined ? {} : { term }),
          outcome: 'retrying',
          error: coded,
        });
        if (!this.#sessions.has(to)) {
          // The target is gone: a new round picks another one.
          this.#moves.next({ ...base, outcome: 'superseded' });
          queueMicrotask(() => void this.#wake('target-lost'));
          return;
        }
        try {
          await delay(wait, signal);
        } catch {
          // aborted: reported at the top of the loop
        }
        wait = Math.min(this.#backoff.maxMs, wait * 2);
      }
    }
  }

  /** Removes the WAL from every earlier owner still in session; a gone node has nothing to release. */
  async #releaseOldOwners(meta: PChannelMeta, reason: MoveReason, signal: AbortSignal): Promise<void> {
    const released: { nodeId: string; term: bigint }[] = [];
    let failure: unknown;
    await Promise.all(
      meta.history.map(async (h) => {
        const owner = this.#sessions.get(h.nodeId);
        if (owner) {
          try {
            const old = { ...meta.channel, term: h.term };
            await this.#bounded(
              (s) => owner.client.remove(old, s),
              this.#operationTimeoutMs,
              signal,
              `remove ${meta.channel.name}@${h.term} from node ${h.nodeId}`,
            );
          } catch (error) {
            if (!hasCode(error, ...RELEASED_CODES) && this.#sessions.has(h.nodeId)) {
              // A client reported the owner failing and the owner refuses connections: the new term opens
              // now rather than when its session expires (a TTL later). The store fences the old term at
              // that open, so it cannot append again; its history entry stays until it can be released.
              if (reason === 'report-error' && hasCode(error, 'UNAVAILABLE')) return;
              failure ??= error;
              return;
            }
          }
        }
        released.push(h);
      }),
    );
    if (released.length > 0) await this.#channels.forgetHistory(meta.channel.name, released);
    if (failure !== undefined) throw failure;
  }

  async #waitReady(session: NodeSession, pchannel: PChannelInfo, signal: AbortSignal): Promise<void> {
    const deadline = this.#now() + this.#operationTimeoutMs;
    let wait = 2;
    for (;;) {
      const report: NodeStatusReport = await this.#bounded(
        (s) => session.client.collectStatus(s),
        this.#operationTimeoutMs,
        signal,
        `status of node ${session.nodeId}`,
      );
      const wal = report.wals.find((w) => w.pchannel.name === pchannel.name);
      if (wal?.pchannel.term === pchannel.term) {
        if (wal.state === 'ready') return;
        if (wal.state === 'failed') {
          throw new WalError(
            'UNAVAILABLE',
            `node ${session.nodeId} failed to open ${pchannel.name}@${pchannel.term}: ${wal.error?.message ?? 'no reason given'}`,
            { cause: wal.error, details: { pchannel: pchannel.name, term: pchannel.term, openFailed: true } },
          );
        }
      } else if (wal === undefined || wal.pchannel.term < pchannel.term) {
        throw new WalError(
          'UNAVAILABLE',
          `node ${session.nodeId} does not report ${pchannel.name}@${pchannel.term} opening`,
        );
      }
      if (this.#now() > deadline) {
        throw new WalError(
          'TIMEOUT',
          `${pchannel.name}@${pchannel.term} was not ready on node ${session.nodeId} within ${this.#operationTimeoutMs} ms`,
        );
      }
      await delay(wait, signal);
      wait = Math.min(50, wait * 2);
    }
  }

  /** Runs `call` under a timeout and the move's signal; TIMEOUT when the node does not answer in time. */
  async #bounded<T>(
    call: (signal: AbortSignal) => Promise<T>,
    ms: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<T> {
    const local = new AbortController();
    const onAbort = (): void => local.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new WalError('TIMEOUT', `${what}: no answer within ${ms} ms`);
        local.abort(error);
        reject(error);
      }, ms);
      local.signal.addEventListener(
        'abort',
        () =>
          reject(local.signal.reason ?? new WalError('ABORTED', `${what} was aborted`, { retriable: false })),
        { once: true },
      );
    });
    try {
      return await Promise.race([call(local.signal), timeout]);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Resolves when `condition` holds (checked every 10 ms: planning and bookkeeping end without an event). */
  #until(condition: () => boolean, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new WalError('ABORTED', 'the wait was aborted', { retriable: false, cause: signal.reason }));
        return;
      }
      const poll = setInterval(() => {
        if (condition()) finish();
      }, 10);
      const onAbort = (): void =>
        finish(new WalError('ABORTED', 'the wait was aborted', { retriable: false, cause: signal?.reason }));
      const finish = (error?: unknown): void => {
        clearInterval(poll);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (condition()) finish();
    });
  }
}
