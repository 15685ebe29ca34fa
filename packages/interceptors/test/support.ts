import { type MemoryAdapter, memoryAdapter } from '@walstream/adapter-memory';
import {
  type AppendResult,
  type Catalog,
  createWal,
  DeliverFilter,
  DeliverPolicy,
  defineMessageType,
  type ImmutableMessage,
  LocalTimestampAllocator,
  MemoryCatalog,
  type MessageID,
  type MessageTypeDefinition,
  type MutableMessage,
  messageTypes,
  newMessage,
  pchannel,
  SystemMessageType,
  type Wal,
  WalError,
  type WalOpener,
} from '@walstream/core';
import { compileFilters, TimeTickOrderer } from '@walstream/core/internal';
import {
  type AppendOptions,
  abortError,
  type InterceptorBuilder,
  type WalImpls,
  type WalImplsOpener,
} from '@walstream/core/spi';
import { type SemanticsOptions, shardMessages, walSemantics } from '@walstream/interceptors';
import { resolveOptions } from '../src/options.js';
import { SemanticsStack } from '../src/semantics-stack.js';

export const PCHANNEL = 'ps';

/** A plain application type for tests (registered once per process). */
export const Note: MessageTypeDefinition<unknown> =
  messageTypes.byName('SemanticsTestNote') ??
  defineMessageType({ name: 'SemanticsTestNote', code: 4201, flags: {} });

export function note(vchannel: string, seq: number): MutableMessage {
  return newMessage(Note)
    .vchannel(vchannel)
    .property('seq', String(seq))
    .body(new Uint8Array([seq & 0xff]))
    .build();
}

export interface Stack {
  readonly adapter: MemoryAdapter;
  readonly catalog: Catalog;
  readonly opener: WalOpener;
  readonly options: SemanticsOptions;
  open(term: bigint): Promise<Wal>;
  /** The shared per-WAL state of the last WAL opened (through a probe interceptor at the end of the stack). */
  context(): SemanticsStack;
  close(): Promise<void>;
}

/** A wall clock the test moves by hand; drives both timeticks and the semantics' `now`. */
export class ManualClock {
  ms = 1_700_000_000_000;
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Interceptors a test adds to the semantics stack. */
export interface ExtraInterceptors {
  /** Between redo and lock: each run of the inner chain passes them (a redo rerun too). */
  readonly insideRedo?: readonly InterceptorBuilder[];
  /** After shard: they see what is about to be written, with its timetick, under its locks. */
  readonly innermost?: readonly InterceptorBuilder[];
}

/** A semantics stack on the memory adapter; `adapter` and `catalog` survive reopen at a higher term. */
export async function semanticsStack(
  options: SemanticsOptions = {},
  shared: { adapter?: MemoryAdapter; catalog?: Catalog; clock?: ManualClock } = {},
  extra: ExtraInterceptors = {},
): Promise<Stack> {
  const adapter = shared.adapter ?? memoryAdapter();
  const catalog = shared.catalog ?? new MemoryCatalog();
  let captured: SemanticsStack | undefined;
  const probe: InterceptorBuilder = {
    name: 'probe',
    async build(params) {
      if (params.channel.accessMode === 'rw')
        captured = await SemanticsStack.of(params, options, resolveOptions(options, 'probe'));
      return { name: 'probe', doAppend: (message, context, next) => next(message, context) };
    },
  };
  const allocator = shared.clock ? new LocalTimestampAllocator({ now: shared.clock.now }) : undefined;
  const opener = await createWal({ catalog, allocator, runtime: { appendRetry: { initialMs: 1, maxMs: 5 } } })
    .adapter(adapter)
    .use(...withExtra(walSemantics(options), extra), probe)
    .build();
  return {
    adapter,
    catalog,
    opener,
    options,
    open: (term) => opener.open({ channel: pchannel(PCHANNEL, term) }),
    context: () => {
      if (!captured) throw new Error('no WAL opened yet');
      return captured;
    },
    close: () => opener.close(),
  };
}

function withExtra(semantics: InterceptorBuilder[], extra: ExtraInterceptors): InterceptorBuilder[] {
  const [redo, ...inner] = semantics;
  return [redo!, ...(extra.insideRedo ?? []), ...inner, ...(extra.innermost ?? [])];
}

/** Creates a vchannel with a collection (Milvus's CreateCollection), so Milvus's messages may be appended to it. */
export async function createCollection(
  wal: Wal,
  vchannel: string,
  collectionId = 1n,
  partitionIds?: bigint[],
) {
  return wal.append(shardMessages.createCollection(vchannel, { collectionId, partitionIds }));
}

/** The log as stored, oldest first. */
export function stored(stack: Stack): ImmutableMessage[] {
  return stack.adapter.store.messages(PCHANNEL);
}

/** Reads the raw log from the start until `until` holds, bounded. */
export async function readRawUntil(
  wal: Wal,
  until: (seen: readonly ImmutableMessage[]) => boolean,
  timeoutMs = 5_000,
): Promise<ImmutableMessage[]> {
  const seen: ImmutableMessage[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  await using scanner = await wal.read({ deliverPolicy: DeliverPolicy.all(), signal });
  for await (const message of scanner) {
    seen.push(message);
    if (until(seen)) break;
  }
  return seen;
}

export const isTick = (message: ImmutableMessage): boolean =>
  message.messageType === SystemMessageType.TimeTick;

/**
 * The TimeTick contract on the stored log: after a persisted tick at X, nothing with tt ≤ X comes later.
 * Returns the violations (empty when it holds).
 */
export function timeTickViolations(log: readonly ImmutableMessage[]): string[] {
  const violations: string[] = [];
  let maxTick = -1n;
  for (const message of log) {
    if (isTick(message)) {
      if (message.timeTick < maxTick) violations.push(`tick ${message.timeTick} after tick ${maxTick}`);
      if (message.timeTick > maxTick) maxTick = message.timeTick;
    } else if (message.timeTick <= maxTick) {
      violations.push(`message ${message.id.toString()} at ${message.timeTick} after a tick at ${maxTick}`);
    }
  }
  return violations;
}

/**
 * The last-confirmed contract on the stored log: from LC(X) a reader meets every message with tt ≥ X's,
 * and the begin of every txn that commits after X. Returns the violations.
 */
export function lastConfirmedViolations(log: readonly ImmutableMessage[]): string[] {
  const violations: string[] = [];
  const beginOf = new Map<bigint, ImmutableMessage>();
  for (const message of log) {
    if (message.messageType === SystemMessageType.BeginTxn) beginOf.set(message.txnContext!.txnId, message);
  }
  // A retried append can be in the log twice (same timetick, another id); readers deliver it once, so the
  // contract holds when the reader meets its last copy.
  const lastCopy = new Map<bigint, ImmutableMessage>();
  for (const message of log) lastCopy.set(message.timeTick, message);
  for (const x of log) {
    const lc = x.lastConfirmedId;
    for (const y of lastCopy.values()) {
      if (y.timeTick >= x.timeTick && y.id.compare(lc) < 0) {
        violations.push(
          `LC of ${x.id.toString()} (${lc.toString()}) is past ${y.id.toString()} at tt ${y.timeTick} ≥ ${x.timeTick}`,
        );
      }
      if (y.messageType === SystemMessageType.CommitTxn && y.timeTick > x.timeTick) {
        const begin = beginOf.get(y.txnContext!.txnId);
        if (begin && begin.id.compare(lc) < 0) {
          violations.push(
            `LC of ${x.id.toString()} is past the begin of txn ${y.txnContext!.txnId} committed later`,
          );
        }
      }
    }
  }
  return violations;
}

/**
 * Reads a stored log as an ordered reader would (core's TimeTickOrderer: reorder by timetick released at
 * each TimeTick, txns delivered whole at their commit), from `fromId`, with the resume filter `tt > afterTt`
 * on plain messages and commits (txn begins and bodies always pass). TimeTicks are not returned.
 */
export function orderedRead(
  log: readonly ImmutableMessage[],
  fromId?: MessageID,
  afterTt = -1n,
): ImmutableMessage[] {
  const orderer = new TimeTickOrderer();
  const accept = compileFilters([DeliverFilter.timeTickGT(afterTt)])!;
  const out: ImmutableMessage[] = [];
  for (const message of log) {
    if (fromId && message.id.compare(fromId) < 0) continue;
    if (!accept(message)) continue;
    for (const released of orderer.accept(message)) if (!isTick(released)) out.push(released);
  }
  return out;
}

/** One append held at a {@link StoreGate}: it reached the store and waits for the test to decide. */
export interface HeldAppend {
  /** Resolves with the message once the append waits at the gate. */
  readonly arrived: Promise<MutableMessage>;
  /** Lets it write, and acknowledges it. */
  release(): void;
  /** Writes it, then rejects as if the acknowledgement was lost (UNAVAILABLE, `written: true`). */
  loseAck(): void;
  /** Rejects it without writing. */
  fail(error: WalError): void;
}

interface Hold {
  readonly match: (message: MutableMessage) => boolean;
  readonly held: HeldAppend;
  readonly arrive: (message: MutableMessage) => void;
  readonly decided: Promise<'release' | 'loseAck' | WalError>;
}

/**
 * An adapter wrapper that holds chosen appends in the "store" until the test releases them: orderings are
 * made with explicit gates, never with delays, so no test depends on the machine's speed. Appends that no
 * hold matches pass straight through. A held append honours its signal as a store append does (ABORTED).
 */
export class StoreGate {
  readonly #holds: Hold[] = [];
  /** Store readers opened through the gate (the WAL's replay, scanners in catch-up mode). */
  reads = 0;

  /** The next append (an attempt, for a retried one) matching `match` waits at the gate. */
  hold(match: (message: MutableMessage) => boolean): HeldAppend {
    let arrive!: (message: MutableMessage) => void;
    let decide!: (decision: 'release' | 'loseAck' | WalError) => void;
    const arrived = new Promise<MutableMessage>((resolve) => {
      arrive = resolve;
    });
    const decided = new Promise<'release' | 'loseAck' | WalError>((resolve) => {
      decide = resolve;
    });
    const held: HeldAppend = {
      arrived,
      release: () => decide('release'),
      loseAck: () => decide('loseAck'),
      fail: (error) => decide(error),
    };
    this.#holds.push({ match, held, arrive, decided });
    return held;
  }

  /** `inner` with this gate in front of every WAL's `append`; the store stays `inner.store`. */
  adapter(inner: MemoryAdapter): MemoryAdapter {
    const gate = this;
    return {
      name: inner.name,
      capabilities: inner.capabilities,
      store: inner.store,
      async build(options) {
        const opener = await inner.build(options);
        const gated: WalImplsOpener = {
          open: async (openOptions) => gate.#wrap(await opener.open(openOptions)),
          close: () => opener.close(),
          [Symbol.asyncDispose]: () => opener.close(),
        };
        return gated;
      },
    };
  }

  #wrap(impls: WalImpls): WalImpls {
    return {
      walName: impls.walName,
      channel: impls.channel,
      append: (message, options) => this.#append(impls, message, options),
      truncate: (id, options) => impls.truncate(id, options),
      read: (options) => {
        this.reads++;
        return impls.read(options);
      },
      close: () => impls.close(),
      [Symbol.asyncDispose]: () => impls.close(),
    };
  }

  async #append(impls: WalImpls, message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
    const index = this.#holds.findIndex((hold) => hold.match(message));
    if (index < 0) return impls.append(message, options);
    const [hold] = this.#holds.splice(index, 1);
    hold!.arrive(message);
    const decision = await waitUnlessAborted(hold!.decided, options?.signal);
    if (decision === 'release') return impls.append(message, options);
    if (decision === 'loseAck') {
      await impls.append(message, options);
      throw new WalError('UNAVAILABLE', 'acknowledgement lost (store gate)', { details: { written: true } });
    }
    throw decision;
  }
}

function waitUnlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal, 'held append'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then((value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    });
  });
}

/**
 * An AbortSignal that tells when something starts waiting on it. Every bounded wait of the chain (a lock,
 * a commit waiting for its bodies, a redo wait) listens to the append's signal while it waits, so
 * `waiting` resolving is the event "this append is now held back", without looking at the clock.
 */
export function watchedSignal(): {
  readonly signal: AbortSignal;
  readonly waiting: Promise<void>;
  abort(): void;
} {
  const controller = new AbortController();
  const signal = controller.signal;
  let started!: () => void;
  const waiting = new Promise<void>((resolve) => {
    started = resolve;
  });
  const add = signal.addEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => {
    if (args[0] === 'abort') started();
    add(...args);
  }) as AbortSignal['addEventListener'];
  return { signal, waiting, abort: () => controller.abort() };
}

/** Records the order in which appends settle, by label. */
export function settleOrder(): {
  readonly order: string[];
  track(label: string, append: Promise<AppendResult>): Promise<AppendResult>;
} {
  const order: string[] = [];
  return {
    order,
    track: (label, append) =>
      append.then(
        (result) => {
          order.push(label);
          return result;
        },
        (error: unknown) => {
          order.push(`${label} failed`);
          throw error;
        },
      ),
  };
}

/**
 * Counts, across the runs of a property, how often each situation it is about came up, so a generator that
 * (almost) never builds the situation cannot pass vacuously. {@link require} fails naming what is missing.
 */
export class Coverage {
  readonly #counts = new Map<string, number>();

  add(what: string, count = 1): void {
    this.#counts.set(what, (this.#counts.get(what) ?? 0) + count);
  }

  count(what: string): number {
    return this.#counts.get(what) ?? 0;
  }

  /** Whether each situation came up at least once. */
  covers(...whats: string[]): boolean {
    return whats.every((what) => this.count(what) > 0);
  }

  /** Fails unless each situation came up at least `atLeast` times. */
  require(atLeast: number, ...whats: string[]): void {
    const missing = whats.filter((what) => this.count(what) < atLeast);
    if (missing.length > 0) {
      throw new Error(
        `the property checked too little of ${missing.join(', ')} (fewer than ${atLeast} each; counts: ${this.describe()})`,
      );
    }
  }

  describe(): string {
    return [...this.#counts].map(([what, count]) => `${what} ${count}`).join(', ') || 'none';
  }
}

/**
 * `promise`, or a failure naming `what` after `ms`: a bound on a wait for an event, so a test whose event
 * never comes fails with a message instead of at the test timeout. Never a condition of success.
 */
export function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}
