import {
  type Catalog,
  type MessageID,
  type ObservabilityOptions,
  type PChannelInfo,
  type Wal,
  WalError,
  type WalOpener,
} from '@walstream/core';
import { checkKnownKeys } from '@walstream/core/internal';
import {
  abortError,
  assertPChannelInfo,
  createObservability,
  type Observability,
  toWalError,
} from '@walstream/core/spi';
import { walCheckpoints } from '@walstream/interceptors';
import { type Observable, Subject } from 'rxjs';
import {
  type FlusherOptions,
  resolveFlusherOptions,
  startFlusher,
  type WalFlusher,
} from '../flusher/flusher.js';
import { ManagedWal } from './managed-wal.js';

export type WalLifetimeState = 'recovering' | 'ready' | 'closing' | 'closed' | 'failed';

/** One step of one pchannel's lifetime: the WAL at `term` entered `state`. */
export interface WalLifetimeEvent {
  readonly pchannel: string;
  readonly term: bigint;
  readonly state: WalLifetimeState;
  /** Why it failed (state `failed`). */
  readonly error?: WalError;
}

export interface WalStatusSnapshot {
  /** The pchannel at the term of its newest open (or of the request that is about to open it). */
  readonly channel: PChannelInfo;
  readonly state: WalLifetimeState;
  readonly error?: WalError;
  /** The timetick of the fencing TimeTick the WAL wrote at open: recovery covered everything below. */
  readonly recoveryTimeTick?: bigint;
  /** The timetick of the last TimeTick sync: what readers can see. */
  readonly lastSyncedTimeTick?: bigint;
  /** The checkpoint last saved to the catalog by this term. */
  readonly checkpoint?: { readonly messageId: MessageID; readonly timeTick: bigint };
  readonly appendsInFlight: number;
}

export interface WalManager extends AsyncDisposable {
  /**
   * Returns at once. Opening and recovery run in the background; `state$` and `status()` show how they
   * went. A term lower than the pchannel's current one → UNMATCHED_CHANNEL_TERM (not retriable here); the
   * same term again → IGNORED_OPERATION; a higher term closes the old WAL first (abandoning an open still
   * under way), then opens.
   */
  assign(channel: PChannelInfo): void;
  /**
   * Closes the WAL at exactly that term (graceful: appends in flight finish); resolves when it is closed.
   * Removing it again resolves as well. Unknown pchannel or another term → IGNORED_OPERATION.
   */
  remove(channel: PChannelInfo): Promise<void>;
  /**
   * The READY WAL of that pchannel at that term (its `close()` does nothing: only the manager closes
   * WALs). Not assigned or removed → CHANNEL_NOT_EXIST; another term → UNMATCHED_CHANNEL_TERM; still
   * recovering → waits (ABORTED when `signal` aborts); failed → its error.
   */
  get(pchannel: string, term: bigint, signal?: AbortSignal): Promise<Wal>;
  /** Every pchannel this manager was asked about, sorted by name. */
  status(): WalStatusSnapshot[];
  /** Hot: every lifetime step from now on; completes after `close()`. `status()` has the current states. */
  readonly state$: Observable<WalLifetimeEvent>;
  /**
   * Graceful: refuses new assigns and gets (ON_SHUTDOWN), closes every WAL (final sync and checkpoint, so
   * a successor replays no more than the last checkpoint). Does not close the opener. Idempotent.
   */
  close(): Promise<void>;
}

export interface WalManagerOptions extends ObservabilityOptions {
  /** Opens the WALs: `createWal({ catalog, allocator }).adapter(x).use(...walSemantics()).build()`. */
  readonly opener: WalOpener;
  /** The catalog the opener's stack keeps its checkpoints in (checked to be given; the stack uses it). */
  readonly catalog: Catalog;
  /** Run a flusher for each ready WAL: sinks, or retention without sinks. No flusher when absent. */
  readonly flusher?: FlusherOptions;
}

const WHERE = 'createWalManager';

/**
 * A node's WALs, one per pchannel, opened and closed by (pchannel, term) in term order. Each pchannel has
 * its own serial worker that moves the WAL towards the last accepted request, so requests for one
 * pchannel never race and different pchannels never wait for each other.
 */
export function createWalManager(options: WalManagerOptions): WalManager {
  checkKnownKeys(WHERE, options, ['opener', 'catalog', 'flusher', 'logger', 'meterProvider', 'onError']);
  if (typeof options.opener?.open !== 'function') {
    throw new WalError('INVALID_ARGUMENT', `${WHERE}: option opener must be a WalOpener`, {
      retriable: false,
      details: { option: 'opener' },
    });
  }
  if (typeof options.catalog?.getCheckpoint !== 'function') {
    throw new WalError('INVALID_ARGUMENT', `${WHERE}: option catalog must be a Catalog`, {
      retriable: false,
      details: { option: 'catalog' },
    });
  }
  const flusher = options.flusher === undefined ? undefined : resolveFlusherOptions(options.flusher);
  return new Manager(options.opener, flusher, createObservability(options));
}

type Flusher = ReturnType<typeof resolveFlusherOptions>;

/** The request a lifetime works towards: the WAL at `term` open (`wanted`) or closed. */
interface Expected {
  readonly term: bigint;
  readonly accessMode: PChannelInfo['accessMode'];
  readonly wanted: boolean;
}

/** Where a lifetime is: the state of the WAL at `term`, and the WAL while one is open. */
interface Current {
  readonly term: bigint;
  readonly accessMode: PChannelInfo['accessMode'];
  state: WalLifetimeState;
  error?: WalError;
  wal?: Wal;
  managed?: ManagedWal;
  flusher?: WalFlusher;
}

class Lifetime {
  readonly name: string;
  expected: Expected;
  current: Current | undefined;
  /** Aborts the open under way when a newer request supersedes it. */
  opening: AbortController | undefined;
  running: Promise<void> | undefined;
  /** A request arrived since the worker last looked. */
  dirty = false;
  #changed = deferred();

  constructor(name: string, expected: Expected) {
    this.name = name;
    this.expected = expected;
  }

  /** Settles at the next change of `current` or `expected`. */
  get changed(): Promise<void> {
    return this.#changed.promise;
  }

  notify(): void {
    const done = this.#changed;
    this.#changed = deferred();
    done.resolve();
  }
}

class Manager implements WalManager {
  readonly #opener: WalOpener;
  readonly #flusher: Flusher | undefined;
  readonly #observability: Observability;
  readonly #lifetimes = new Map<string, Lifetime>();
  readonly #events = new Subject<WalLifetimeEvent>();
  #closing: Promise<void> | undefined;

  constructor(opener: WalOpener, flusher: Flusher | undefined, observability: Observability) {
    this.#opener = opener;
    this.#flusher = flusher;
    this.#observability = observability;
  }

  get state$(): Observable<WalLifetimeEvent> {
    return this.#events.asObservable();
  }

  assign(channel: PChannelInfo): void {
    checkChannel('assign', channel);
    if (this.#closing) throw shutdownError();
    const expected: Expected = { term: channel.term, accessMode: channel.accessMode, wanted: true };
    let lifetime = this.#lifetimes.get(channel.name);
    if (!lifetime) {
      lifetime = new Lifetime(channel.name, expected);
      this.#lifetimes.set(channel.name, lifetime);
    } else {
      const now = lifetime.expected;
      if (channel.term < now.term) {
        throw new WalError(
          'UNMATCHED_CHANNEL_TERM',
          `assign ${channel.name} at term ${channel.term}: it is at term ${now.term} here already`,
          { retriable: false, details: { pchannel: channel.name, term: channel.term, current: now.term } },
        );
      }
      if (channel.term === now.term) {
        throw new WalError(
          'IGNORED_OPERATION',
          `assign ${channel.name} at term ${channel.term}: that term was ${now.wanted ? 'assigned' : 'removed'} already`,
          { details: { pchannel: channel.name, term: channel.term } },
        );
      }
      lifetime.expected = expected;
      lifetime.opening?.abort(new WalError('IGNORED_OPERATION', `superseded by term ${channel.term}`));
    }
    lifetime.notify();
    this.#drive(lifetime);
  }

  async remove(channel: PChannelInfo): Promise<void> {
    checkChannel('remove', channel);
    const lifetime = this.#lifetimes.get(channel.name);
    if (!lifetime || lifetime.expected.term !== channel.term) {
      throw new WalError(
        'IGNORED_OPERATION',
        lifetime
          ? `remove ${channel.name} at term ${channel.term}: it is at term ${lifetime.expected.term} here`
          : `remove ${channel.name}: not assigned here`,
        { details: { pchannel: channel.name, term: channel.term } },
      );
    }
    if (lifetime.expected.wanted) {
      lifetime.expected = { ...lifetime.expected, wanted: false };
      lifetime.opening?.abort(new WalError('IGNORED_OPERATION', `removed at term ${channel.term}`));
      lifetime.notify();
      this.#drive(lifetime);
    }
    // Done when nothing of that term is open or opening any more.
    for (;;) {
      const current = lifetime.current;
      const busy = lifetime.running !== undefined && (current === undefined || current.term <= channel.term);
      const open = current?.term === channel.term && current.wal !== undefined;
      if (!busy && !open) return;
      await lifetime.changed;
    }
  }

  async get(pchannel: string, term: bigint, signal?: AbortSignal): Promise<Wal> {
    for (;;) {
      if (this.#closing) throw shutdownError();
      if (signal?.aborted) throw abortError(signal, `waiting for the WAL of ${pchannel} at term ${term}`);
      const lifetime = this.#lifetimes.get(pchannel);
      if (!lifetime || !lifetime.expected.wanted) {
        throw new WalError('CHANNEL_NOT_EXIST', `pchannel ${pchannel} is not assigned to this node`, {
          details: { pchannel, term },
        });
      }
      if (lifetime.expected.term !== term) {
        throw new WalError(
          'UNMATCHED_CHANNEL_TERM',
          `pchannel ${pchannel} is at term ${lifetime.expected.term} here, not ${term}`,
          { details: { pchannel, term, current: lifetime.expected.term } },
        );
      }
      const current = lifetime.current;
      if (current?.term === term) {
        if (current.state === 'ready' && current.managed) return current.managed;
        if (current.state === 'failed') throw current.error!;
      }
      await waitOrAbort(lifetime.changed, signal);
    }
  }

  status(): WalStatusSnapshot[] {
    return [...this.#lifetimes.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((lifetime) => {
        const current = lifetime.current;
        // Before the first step of a newer request, the status shows that request as recovering.
        const pending =
          lifetime.expected.wanted && (current === undefined || current.term < lifetime.expected.term);
        const term = pending || !current ? lifetime.expected.term : current.term;
        const accessMode = pending || !current ? lifetime.expected.accessMode : current.accessMode;
        const state: WalLifetimeState = pending ? 'recovering' : (current?.state ?? 'closed');
        const checkpoints = !pending && current?.wal ? walCheckpoints(current.wal) : undefined;
        const saved = checkpoints?.saved?.checkpoint;
        return {
          channel: { name: lifetime.name, term, accessMode },
          state,
          ...(!pending && current?.error ? { error: current.error } : {}),
          ...(checkpoints ? { recoveryTimeTick: checkpoints.recoveryTimeTick } : {}),
          ...(checkpoints?.lastSyncedTimeTick !== undefined
            ? { lastSyncedTimeTick: checkpoints.lastSyncedTimeTick }
            : {}),
          ...(saved ? { checkpoint: { messageId: saved.messageId, timeTick: saved.timeTick } } : {}),
          appendsInFlight: !pending ? (current?.managed?.appendsInFlight ?? 0) : 0,
        };
      });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const lifetime of this.#lifetimes.values()) {
        if (!lifetime.expected.wanted) continue;
        lifetime.expected = { ...lifetime.expected, wanted: false };
        lifetime.opening?.abort(new WalError('ON_SHUTDOWN', 'wal manager is closing'));
        lifetime.notify();
        this.#drive(lifetime);
      }
      await Promise.all([...this.#lifetimes.values()].map((lifetime) => lifetime.running));
      this.#events.complete();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Starts the pchannel's worker unless it runs; a running worker sees the new request on its next step. */
  #drive(lifetime: Lifetime): void {
    lifetime.dirty = true;
    if (lifetime.running) return;
    lifetime.running = (async () => {
      try {
        // A request that lands between a step's decision and the end of the loop marks it dirty: the
        // worker goes round again instead of leaving it unserved.
        for (;;) {
          lifetime.dirty = false;
          const more = await this.#step(lifetime);
          if (!more && !lifetime.dirty) break;
        }
      } catch (error) {
        // A step never throws by design; if one does, the pchannel is failed rather than stuck.
        this.#set(lifetime, lifetime.current?.term ?? lifetime.expected.term, 'failed', toWalError(error));
      } finally {
        lifetime.running = undefined;
        lifetime.notify();
      }
    })();
  }

  /** One step towards `expected`; false when there is nothing left to do. */
  async #step(lifetime: Lifetime): Promise<boolean> {
    const want = lifetime.expected;
    const current = lifetime.current;
    if (current?.wal) {
      const keep = want.wanted && current.term === want.term && current.state === 'ready';
      if (keep) return false;
      await this.#closeCurrent(lifetime, current);
      return true;
    }
    if (want.wanted) {
      if (current?.term === want.term) return false;
      await this.#open(lifetime, want);
      return true;
    }
    // Removed (while failed, or before its open began): nothing of it is open, and the status says so
    // at the removed term.
    if (current?.term !== want.term || current.state !== 'closed') this.#set(lifetime, want.term, 'closed');
    return false;
  }

  async #open(lifetime: Lifetime, want: Expected): Promise<void> {
    const channel: PChannelInfo = { name: lifetime.name, term: want.term, accessMode: want.accessMode };
    const abort = new AbortController();
    lifetime.opening = abort;
    lifetime.current = { term: want.term, accessMode: want.accessMode, state: 'recovering' };
    this.#emit(lifetime, 'recovering');
    let wal: Wal;
    try {
      wal = await this.#opener.open({ channel, signal: abort.signal });
    } catch (error) {
      lifetime.opening = undefined;
      if (this.#superseded(lifetime, want)) {
        this.#set(lifetime, want.term, 'closed');
        return;
      }
      const failure = toWalError(error);
      this.#observability.reportError({
        error: failure,
        component: 'walManager',
        pchannel: lifetime.name,
        retrying: false,
      });
      this.#set(lifetime, want.term, 'failed', failure);
      return;
    }
    lifetime.opening = undefined;
    const current = lifetime.current;
    current.wal = wal;
    if (this.#superseded(lifetime, want)) {
      // Opened after all, but nobody wants it any more: close it again without calling it ready.
      await this.#closeCurrent(lifetime, current);
      return;
    }
    current.managed = new ManagedWal(wal);
    wal.state$.subscribe((state) => {
      if (lifetime.current !== current || current.state !== 'ready') return;
      if (state === 'fenced') {
        // A newer term took the pchannel elsewhere: this WAL can never append again.
        this.#set(
          lifetime,
          current.term,
          'failed',
          new WalError(
            'CHANNEL_FENCED',
            `${lifetime.name} at term ${current.term} was fenced by a newer term`,
            {
              details: { pchannel: lifetime.name, term: current.term },
            },
          ),
        );
        this.#drive(lifetime);
      } else if (state === 'closed') {
        current.wal = undefined;
        this.#set(
          lifetime,
          current.term,
          'failed',
          new WalError(
            'CLOSED',
            `${lifetime.name} at term ${current.term} was closed outside the WAL manager`,
            {
              retriable: false,
            },
          ),
        );
      }
    });
    if (this.#flusher && want.accessMode === 'rw') {
      current.flusher = startFlusher(
        wal,
        this.#flusher,
        this.#observability.child({ pchannel: lifetime.name }),
      );
    }
    this.#set(lifetime, want.term, 'ready');
  }

  /** Closes the open WAL of `current`: its flusher first (so the final checkpoint carries its position). */
  async #closeCurrent(lifetime: Lifetime, current: Current): Promise<void> {
    const failed = current.state === 'failed';
    if (!failed) this.#set(lifetime, current.term, 'closing');
    try {
      // A WAL that closes in order hands its sinks everything it wrote first; a failed one cannot.
      if (!failed) await current.flusher?.drain();
      await current.flusher?.stop();
      await current.wal?.close();
    } catch (error) {
      this.#observability.reportError({
        error,
        component: 'walManager',
        pchannel: lifetime.name,
        retrying: false,
      });
    }
    current.wal = undefined;
    current.flusher = undefined;
    // A failed WAL keeps saying why it failed; its WAL is closed underneath.
    if (failed) lifetime.notify();
    else this.#set(lifetime, current.term, 'closed');
  }

  #superseded(lifetime: Lifetime, want: Expected): boolean {
    return lifetime.expected !== want;
  }

  #set(lifetime: Lifetime, term: bigint, state: WalLifetimeState, error?: WalError): void {
    const current = lifetime.current;
    if (current && current.term === term) {
      current.state = state;
      if (error) current.error = error;
      else delete current.error;
    } else {
      lifetime.current = {
        term,
        accessMode: lifetime.expected.accessMode,
        state,
        ...(error ? { error } : {}),
      };
    }
    this.#emit(lifetime, state, error);
  }

  #emit(lifetime: Lifetime, state: WalLifetimeState, error?: WalError): void {
    const term = lifetime.current!.term;
    this.#observability.logger.info(
      { pchannel: lifetime.name, term: term.toString(), state, ...(error ? { code: error.code } : {}) },
      `wal ${state}`,
    );
    this.#events.next({ pchannel: lifetime.name, term, state, ...(error ? { error } : {}) });
    lifetime.notify();
  }
}

function checkChannel(what: string, channel: PChannelInfo): void {
  if (typeof channel !== 'object' || channel === null || typeof channel.term !== 'bigint') {
    throw new WalError('INVALID_ARGUMENT', `${what}: needs a PChannelInfo with a bigint term`, {
      retriable: false,
    });
  }
  assertPChannelInfo(channel);
}

function shutdownError(): WalError {
  return new WalError('ON_SHUTDOWN', 'wal manager is closed');
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

async function waitOrAbort(changed: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return changed;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([changed, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}
