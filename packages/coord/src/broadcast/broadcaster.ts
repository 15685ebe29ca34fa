import {
  type AppendResult,
  type BroadcastHeader,
  type BroadcastTaskRecord,
  type Catalog,
  type MessageTypeDefinition,
  MutableMessage,
  ResourceDomain,
  sharedResourceKey,
  type TimestampAllocator,
  WalError,
} from '@walstream/core';
import { checkKnownKeys, delay, functionOption, integerOption } from '@walstream/core/internal';
import { noObservability, type Observability } from '@walstream/core/spi';
import { BehaviorSubject, type Observable } from 'rxjs';
import { compareNames } from '../policy/order.js';
import { type LockGuard, normalizeKeys, ResourceKeyLocks } from './locks.js';

/** Where the broadcaster appends each vchannel's copy: the streaming client, or in-process WALs. */
export interface BroadcastAppender {
  /** Appends `message` to its vchannel (`message.vchannel`); durable when it resolves. */
  append(message: MutableMessage, signal?: AbortSignal): Promise<AppendResult>;
}

/** One vchannel's copy as appended (plain data: it survives a coordinator restart). */
export interface BroadcastAppend {
  readonly walName: string;
  /** The marshalled MessageID. */
  readonly messageId: string;
  readonly timeTick: bigint;
}

export interface BroadcastResult {
  readonly broadcastId: bigint;
  /** vchannel → its copy. */
  readonly appends: ReadonlyMap<string, BroadcastAppend>;
}

/** What an ack callback gets once every vchannel acknowledged its copy. */
export interface AckContext {
  readonly broadcastId: bigint;
  /** The broadcast message, with its id in the header. */
  readonly message: MutableMessage;
  readonly appends: ReadonlyMap<string, BroadcastAppend>;
}

export type AckCallback = (context: AckContext) => Promise<void>;
/** Validates a broadcast before anything is saved or appended; a throw rejects it. */
export type CheckCallback = (message: MutableMessage) => Promise<void>;

/** A task as status shows it. */
export interface BroadcastTaskStatus {
  readonly broadcastId: bigint;
  /**
   * `pending`: appending or waiting for acks (holds its keys); `callback`: running its ack callback;
   * `dead-letter`: gave up (keys released), see `error`; `tombstone`: done, kept to ignore late acks.
   */
  readonly state: 'pending' | 'callback' | 'dead-letter' | 'tombstone';
  readonly messageType: number;
  readonly vchannels: readonly string[];
  readonly appended: readonly string[];
  readonly acked: readonly string[];
  /** Failed attempts of the current step (appends, or the callback). */
  readonly attempts: number;
  readonly error?: WalError;
}

export interface BroadcasterOptions {
  readonly catalog: Catalog;
  readonly appender: BroadcastAppender;
  /** Broadcast ids: the TSO, so ids rise across restarts and follow lock order. */
  readonly ids: TimestampAllocator;
  /** Calls of a failing check or ack callback before the broadcast is rejected or dead-lettered. Default 5. */
  readonly maxCallbackAttempts?: number;
  /** Retries of appends and callbacks. Default 10 ms doubling to 10 s. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** How long a tombstone is kept to recognise late acks. Default 24 h. */
  readonly tombstoneTtlMs?: number;
  /** Most tombstones kept; the oldest go first. Default 8 192. */
  readonly maxTombstones?: number;
  readonly now?: () => number;
  readonly observability?: Observability;
}

/** Coordinator bookkeeping kept in the task's properties, next to the message's own. */
const APPENDED = '_coord.appended';
const DEAD = '_coord.dead';
const CLUSTER_KEY = sharedResourceKey(ResourceDomain.Cluster, '');

class Task {
  readonly id: bigint;
  readonly message: MutableMessage;
  readonly header: BroadcastHeader;
  readonly appends = new Map<string, BroadcastAppend>();
  readonly acked = new Set<string>();
  state: BroadcastTaskStatus['state'];
  attempts = 0;
  error: WalError | undefined;
  guard: LockGuard | undefined;
  tombstonedAt = 0;
  readonly #settled: { resolve: () => void; reject: (e: unknown) => void } & { promise: Promise<void> };

  constructor(message: MutableMessage, state: Task['state']) {
    const header = message.broadcastHeader as BroadcastHeader;
    this.id = header.broadcastId;
    this.header = header;
    this.message = message;
    this.state = state;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    this.#settled = { promise, resolve, reject };
  }

  get settled(): Promise<void> {
    return this.#settled.promise;
  }
  resolve(): void {
    this.#settled.resolve();
  }
  reject(error: unknown): void {
    this.#settled.reject(error);
  }

  record(): BroadcastTaskRecord {
    const properties: Record<string, string> = { ...this.message.properties };
    properties[APPENDED] = JSON.stringify(
      Object.fromEntries(
        [...this.appends].map(([v, a]) => [v, { w: a.walName, id: a.messageId, tt: a.timeTick.toString() }]),
      ),
    );
    if (this.state === 'dead-letter' && this.error) {
      properties[DEAD] = JSON.stringify({
        code: this.error.code,
        message: this.error.message,
        attempts: this.attempts,
      });
    }
    return {
      broadcastId: this.id,
      state: this.state === 'tombstone' ? 'tombstone' : 'pending',
      message: { payload: this.message.payload, properties },
      acked: [...this.acked].sort(compareNames),
    };
  }

  static fromRecord(record: BroadcastTaskRecord): Task {
    const { [APPENDED]: appended, [DEAD]: dead, ...own } = record.message.properties;
    const message = new MutableMessage(record.message.payload, own);
    const task = new Task(message, record.state === 'tombstone' ? 'tombstone' : 'pending');
    for (const [v, a] of Object.entries(
      JSON.parse(appended ?? '{}') as Record<string, { w: string; id: string; tt: string }>,
    )) {
      task.appends.set(v, { walName: a.w, messageId: a.id, timeTick: BigInt(a.tt) });
    }
    for (const v of record.acked) task.acked.add(v);
    if (dead !== undefined && task.state !== 'tombstone') {
      const parsed = JSON.parse(dead) as { code: string; message: string; attempts: number };
      task.state = 'dead-letter';
      task.attempts = parsed.attempts;
      task.error = new WalError(parsed.code as WalError['code'], parsed.message, { retriable: false });
    }
    return task;
  }

  status(): BroadcastTaskStatus {
    return {
      broadcastId: this.id,
      state: this.state,
      messageType: this.message.messageType,
      vchannels: this.header.vchannels,
      appended: [...this.appends.keys()].sort(compareNames),
      acked: [...this.acked].sort(compareNames),
      attempts: this.attempts,
      ...(this.error ? { error: this.error } : {}),
    };
  }
}

/**
 * Appends one message to many vchannels as one operation. A broadcast takes its resource keys (plus the
 * shared cluster key), gets an id, passes the check callback of its type, is saved PENDING, then each
 * vchannel's copy is appended on its own with retries and saved as appended; the coordinator acks each
 * copy from its append result. Once every vchannel acked, the ack callback of the message type runs,
 * retried a bounded number of times; then the task becomes a tombstone (saved), its keys are released and
 * the caller is answered. A callback that keeps failing parks the task as a dead letter (saved, keys
 * released, visible in status) instead of blocking every later broadcast on its keys. A restarted
 * broadcaster finishes every saved task: only vchannels without a saved append are appended again, so a
 * copy appended just before a crash can be appended twice.
 */
export class Broadcaster {
  readonly #catalog: Catalog;
  readonly #appender: BroadcastAppender;
  readonly #ids: TimestampAllocator;
  readonly #maxAttempts: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #tombstoneTtlMs: number;
  readonly #maxTombstones: number;
  readonly #now: () => number;
  readonly #obs: Observability;
  readonly locks = new ResourceKeyLocks();
  readonly #tasks = new Map<bigint, Task>();
  readonly #ackCallbacks = new Map<number, AckCallback>();
  readonly #checkCallbacks = new Map<number, CheckCallback>();
  readonly #status = new BehaviorSubject<readonly BroadcastTaskStatus[]>([]);
  /** Tombstones in the order they were made (by id after a recovery): GC takes them from the front. */
  readonly #tombstones: Task[] = [];
  #gcRun: Promise<number> = Promise.resolve(0);
  #publishPending = false;
  readonly #stop = new AbortController();
  readonly #running = new Set<Promise<void>>();

  private constructor(options: BroadcasterOptions) {
    const where = 'Broadcaster';
    checkKnownKeys(where, options, [
      'catalog',
      'appender',
      'ids',
      'maxCallbackAttempts',
      'backoff',
      'tombstoneTtlMs',
      'maxTombstones',
      'now',
      'observability',
    ]);
    for (const [name, method] of [
      ['catalog', 'saveBroadcastTask'],
      ['appender', 'append'],
      ['ids', 'allocate'],
    ] as const) {
      if (typeof (options[name] as unknown as Record<string, unknown>)?.[method] !== 'function') {
        throw new WalError('INVALID_ARGUMENT', `${where}: option ${name} must have ${method}()`, {
          retriable: false,
        });
      }
    }
    this.#catalog = options.catalog;
    this.#appender = options.appender;
    this.#ids = options.ids;
    this.#maxAttempts = integerOption(where, 'maxCallbackAttempts', options.maxCallbackAttempts, 5);
    checkKnownKeys(where, options.backoff, ['initialMs', 'maxMs'], 'backoff.');
    this.#backoff = {
      initialMs: integerOption(where, 'backoff.initialMs', options.backoff?.initialMs, 10),
      maxMs: integerOption(where, 'backoff.maxMs', options.backoff?.maxMs, 10_000),
    };
    this.#tombstoneTtlMs = integerOption(where, 'tombstoneTtlMs', options.tombstoneTtlMs, 86_400_000, {
      min: 0,
    });
    this.#maxTombstones = integerOption(where, 'maxTombstones', options.maxTombstones, 8_192, { min: 0 });
    this.#now = functionOption<() => number>(where, 'now', options.now) ?? Date.now;
    this.#obs = (options.observability ?? noObservability).child({ component: 'broadcaster' });
  }

  /**
   * A broadcaster over `catalog` that finishes every task a previous one left: pending tasks take their
   * keys again and go on; dead letters stay parked; tombstones are kept for a new full lifetime.
   * Register callbacks before a recovered task reaches its callback: pass them in `callbacks`.
   */
  static async recover(
    options: BroadcasterOptions,
    callbacks: {
      ack?: readonly [MessageTypeDefinition<unknown> | number, AckCallback][];
      check?: readonly [MessageTypeDefinition<unknown> | number, CheckCallback][];
    } = {},
  ): Promise<Broadcaster> {
    const broadcaster = new Broadcaster(options);
    for (const [type, callback] of callbacks.ack ?? []) broadcaster.onAck(type, callback);
    for (const [type, callback] of callbacks.check ?? []) broadcaster.onCheck(type, callback);
    const records = (await options.catalog.listBroadcastTasks()).sort((a, b) =>
      a.broadcastId < b.broadcastId ? -1 : a.broadcastId > b.broadcastId ? 1 : 0,
    );
    const now = broadcaster.#now();
    const resume: Task[] = [];
    for (const record of records) {
      const task = Task.fromRecord(record);
      broadcaster.#tasks.set(task.id, task);
      if (task.state === 'tombstone') {
        task.tombstonedAt = now;
        broadcaster.#tombstones.push(task);
      } else if (task.state === 'pending') {
        // Saved tasks never conflict: each one held its keys when it was saved.
        const guard = broadcaster.locks.tryLock(task.header.resourceKeys);
        if (!guard) {
          throw new WalError(
            'UNRECOVERABLE',
            `broadcast ${task.id}: its saved resource keys conflict with another task's`,
          );
        }
        task.guard = guard;
        resume.push(task);
      }
    }
    broadcaster.#publish();
    for (const task of resume) broadcaster.#start(task);
    return broadcaster;
  }

  /**
   * Every task now, then after changes: at most one snapshot per event-loop turn, so a state that lasts
   * less than a turn may not show.
   */
  get tasks$(): Observable<readonly BroadcastTaskStatus[]> {
    return this.#status.asObservable();
  }

  status(): readonly BroadcastTaskStatus[] {
    return this.#snapshot();
  }

  /** The callback run once per broadcast of `type` after every vchannel acked; replaces an earlier one. */
  onAck(type: MessageTypeDefinition<unknown> | number, callback: AckCallback): this {
    this.#ackCallbacks.set(codeOf(type), callback);
    return this;
  }

  /** The check run before a broadcast of `type` is saved; a throw (after bounded retries) rejects it. */
  onCheck(type: MessageTypeDefinition<unknown> | number, callback: CheckCallback): this {
    this.#checkCallbacks.set(codeOf(type), callback);
    return this;
  }

  /**
   * Broadcasts `message` (built with `.broadcast(vchannels, resourceKeys)`); resolves when every vchannel
   * has its copy and the ack callback ran. `signal` bounds the wait for the keys and for the answer: a
   * saved broadcast goes on without the caller. `tryLock`: fail RESOURCE_ACQUIRED at once instead of
   * waiting for the keys. A dead-lettered broadcast rejects UNRECOVERABLE (its copies stay appended).
   */
  async broadcast(
    message: MutableMessage,
    options: { signal?: AbortSignal; tryLock?: boolean } = {},
  ): Promise<BroadcastResult> {
    this.#checkOpen();
    const header = message.broadcastHeader;
    if (!header) {
      throw new WalError(
        'INVALID_ARGUMENT',
        'not a broadcast message: build it with .broadcast(vchannels, keys)',
        {
          retriable: false,
        },
      );
    }
    if (header.broadcastId !== 0n) {
      throw new WalError('INVALID_ARGUMENT', `the message already has broadcast id ${header.broadcastId}`, {
        retriable: false,
      });
    }
    const withCluster = header.resourceKeys.some((k) => k.domain === ResourceDomain.Cluster)
      ? header.resourceKeys
      : [...header.resourceKeys, CLUSTER_KEY];
    const keys = normalizeKeys(withCluster);
    let guard: LockGuard | undefined;
    if (options.tryLock) {
      guard = this.locks.tryLock(keys);
      if (!guard)
        throw new WalError('RESOURCE_ACQUIRED', 'a resource key of the broadcast is held by another one');
    } else {
      guard = await this.locks.lock(keys, options.signal);
    }
    let task: Task;
    try {
      // After the keys: conflicting broadcasts get ids in the order they hold the keys.
      const broadcastId = await this.#ids.allocate();
      const stamped = message.clone().withBroadcastHeader({ ...header, broadcastId, resourceKeys: keys });
      await this.#check(stamped, options.signal);
      task = new Task(stamped, 'pending');
      task.guard = guard;
      await this.#save(task);
    } catch (error) {
      guard.release();
      throw error;
    }
    this.#tasks.set(task.id, task);
    this.#publish();
    this.#start(task);
    await waitFor(task.settled, options.signal);
    return { broadcastId: task.id, appends: new Map(task.appends) };
  }

  /**
   * A node's acknowledgement of `vchannel`'s copy. Acks of tombstones, unknown ids and repeated acks are
   * ignored (a late or duplicate ack is normal). The coordinator already acks each copy from its append
   * result, so this is for copies appended by others.
   */
  async ack(broadcastId: bigint, vchannel: string): Promise<void> {
    const task = this.#tasks.get(broadcastId);
    if (!task || task.state !== 'pending' || task.acked.has(vchannel) || !task.appends.has(vchannel)) return;
    task.acked.add(vchannel);
    await this.#save(task);
    this.#publish();
  }

  /** Runs a dead letter's failed step again (its keys are taken again first). */
  async retryDeadLetter(broadcastId: bigint, signal?: AbortSignal): Promise<BroadcastResult> {
    const task = this.#deadLetter(broadcastId);
    task.guard = await this.locks.lock(task.header.resourceKeys, signal);
    task.state = 'pending';
    task.attempts = 0;
    task.error = undefined;
    await this.#save(task);
    this.#publish();
    this.#start(task);
    await waitFor(task.settled, signal);
    return { broadcastId: task.id, appends: new Map(task.appends) };
  }

  /** Gives up on a dead letter: it becomes a tombstone, its callback never runs. */
  async discardDeadLetter(broadcastId: bigint): Promise<void> {
    const task = this.#deadLetter(broadcastId);
    task.state = 'tombstone';
    task.error = undefined;
    task.tombstonedAt = this.#now();
    await this.#save(task);
    this.#tombstones.push(task);
    this.#publish();
  }

  /**
   * Removes tombstones past their lifetime or beyond the most kept, oldest first; resolves how many went.
   * One pass at a time.
   */
  gc(): Promise<number> {
    const run = this.#gcRun.then(async () => {
      const now = this.#now();
      let removed = 0;
      for (;;) {
        const task = this.#tombstones[0];
        if (!task) break;
        const over = this.#tombstones.length > this.#maxTombstones;
        const old = now - task.tombstonedAt >= this.#tombstoneTtlMs;
        if (!over && !old) break;
        await this.#catalog.removeBroadcastTask(task.id);
        this.#tombstones.shift();
        this.#tasks.delete(task.id);
        removed++;
      }
      if (removed > 0) this.#publish();
      return removed;
    });
    this.#gcRun = run.catch(() => 0);
    return run;
  }

  /** Stops every task where it is (they resume from the catalog in the next broadcaster). */
  async close(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled([...this.#running]);
    for (const task of this.#tasks.values()) task.guard?.release();
    this.#status.complete();
  }

  #deadLetter(broadcastId: bigint): Task {
    this.#checkOpen();
    const task = this.#tasks.get(broadcastId);
    if (task?.state !== 'dead-letter') {
      throw new WalError('INVALID_ARGUMENT', `broadcast ${broadcastId} is not a dead letter`, {
        retriable: false,
      });
    }
    return task;
  }

  #checkOpen(): void {
    if (this.#stop.signal.aborted)
      throw new WalError('ON_SHUTDOWN', 'the broadcaster is closed', { retriable: false });
  }

  async #check(message: MutableMessage, signal: AbortSignal | undefined): Promise<void> {
    const check = this.#checkCallbacks.get(message.messageType);
    if (!check) return;
    await this.#bounded(
      () => check(message),
      signal,
      `check callback of broadcast ${message.broadcastHeader?.broadcastId}`,
    );
  }

  /** Calls `attempt` up to the bound, with backoff between retriable failures. */
  async #bounded(
    attempt: () => Promise<void>,
    signal: AbortSignal | undefined,
    what: string,
    onFailure?: (n: number, e: WalError) => void,
  ): Promise<void> {
    let wait = this.#backoff.initialMs;
    for (let n = 1; ; n++) {
      try {
        await attempt();
        return;
      } catch (error) {
        const coded = WalError.is(error)
          ? error
          : new WalError(
              'UNKNOWN',
              `${what} threw: ${String(error instanceof Error ? error.message : error)}`,
              { cause: error, retriable: true },
            );
        onFailure?.(n, coded);
        if (!coded.retriable || n >= this.#maxAttempts) {
          throw new WalError('UNRECOVERABLE', `${what} failed ${n} time(s): ${coded.message}`, {
            retriable: false,
            cause: coded,
            details: { attempts: n, code: coded.code },
          });
        }
        await delay(wait, anySignal(signal, this.#stop.signal));
        wait = Math.min(this.#backoff.maxMs, wait * 2);
      }
    }
  }

  #start(task: Task): void {
    const run = this.#execute(task).finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  async #execute(task: Task): Promise<void> {
    const stop = this.#stop.signal;
    try {
      await this.#appendAll(task, stop);
      for (const v of task.appends.keys()) task.acked.add(v);
      await this.#save(task);
      task.state = 'callback';
      this.#publish();
      const callback = this.#ackCallbacks.get(task.message.messageType);
      if (callback) {
        const context: AckContext = {
          broadcastId: task.id,
          message: task.message,
          appends: new Map(task.appends),
        };
        await this.#bounded(
          () => callback(context),
          stop,
          `ack callback of broadcast ${task.id}`,
          (n, error) => {
            task.attempts = n;
            task.error = error;
            this.#publish();
          },
        );
      }
      task.state = 'tombstone';
      task.attempts = 0;
      task.error = undefined;
      task.tombstonedAt = this.#now();
      await this.#save(task);
      this.#tombstones.push(task);
      task.guard?.release();
      task.guard = undefined;
      this.#publish();
      task.resolve();
      await this.gc();
    } catch (error) {
      if (stop.aborted) {
        task.reject(
          new WalError(
            'ON_SHUTDOWN',
            `broadcast ${task.id} stopped with the broadcaster; it resumes in the next one`,
          ),
        );
        return;
      }
      const coded = WalError.is(error) ? error : new WalError('UNKNOWN', String(error), { cause: error });
      task.state = 'dead-letter';
      task.error = coded;
      this.#obs.reportError({ component: 'broadcaster', error: coded, retrying: false });
      try {
        await this.#save(task);
      } catch (saveError) {
        this.#obs.reportError({ component: 'broadcaster', error: saveError, retrying: false });
      }
      task.guard?.release();
      task.guard = undefined;
      this.#publish();
      task.reject(coded);
    }
  }

  /** Each vchannel on its own: retriable failures are retried without bound, others dead-letter the task. */
  async #appendAll(task: Task, stop: AbortSignal): Promise<void> {
    const pending = task.header.vchannels.filter((v) => !task.appends.has(v));
    await Promise.all(
      pending.map(async (vchannel) => {
        const copy = task.message.clone().withVChannel(vchannel);
        let wait = this.#backoff.initialMs;
        for (let n = 1; ; n++) {
          try {
            const result = await this.#appender.append(copy.clone(), stop);
            task.appends.set(vchannel, {
              walName: result.messageId.walName,
              messageId: result.messageId.marshal(),
              timeTick: result.timeTick,
            });
            await this.#save(task);
            this.#publish();
            return;
          } catch (error) {
            if (stop.aborted) throw error;
            // An uncoded failure may pass (a dropped connection): retried like a retriable one.
            const coded = WalError.is(error)
              ? error
              : new WalError(
                  'UNKNOWN',
                  `append threw: ${error instanceof Error ? error.message : String(error)}`,
                  {
                    cause: error,
                    retriable: true,
                  },
                );
            task.attempts = n;
            task.error = coded;
            this.#publish();
            if (!coded.retriable) {
              throw new WalError(
                'UNRECOVERABLE',
                `appending broadcast ${task.id} to ${vchannel} failed: ${coded.message}`,
                {
                  retriable: false,
                  cause: coded,
                  details: { vchannel, code: coded.code },
                },
              );
            }
            await delay(wait, stop);
            wait = Math.min(this.#backoff.maxMs, wait * 2);
          }
        }
      }),
    );
    task.attempts = 0;
    task.error = undefined;
  }

  #save(task: Task): Promise<void> {
    return this.#catalog.saveBroadcastTask(task.record());
  }

  /** Coalesced: at most one snapshot per turn of the event loop, however many tasks changed in it. */
  #publish(): void {
    if (this.#status.closed || this.#publishPending) return;
    this.#publishPending = true;
    setImmediate(() => {
      this.#publishPending = false;
      if (!this.#status.closed) this.#status.next(this.#snapshot());
    });
  }

  #snapshot(): BroadcastTaskStatus[] {
    return [...this.#tasks.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((t) => t.status());
  }
}

function codeOf(type: MessageTypeDefinition<unknown> | number): number {
  const code = typeof type === 'number' ? type : type?.code;
  if (!Number.isInteger(code) || (code as number) <= 0) {
    throw new WalError(
      'INVALID_ARGUMENT',
      'a callback needs a message type definition or a positive type code',
      {
        retriable: false,
      },
    );
  }
  return code as number;
}

function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}

/** The task's outcome, or ABORTED when the caller stops waiting (the task goes on). */
function waitFor(settled: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return settled;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void =>
      reject(
        new WalError('ABORTED', 'stopped waiting for the broadcast; it goes on', {
          retriable: false,
          cause: signal.reason,
        }),
      );
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    settled.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
