import type { AccessMode, MessageID, MutableMessage } from '@walstream/core';
import type {
  RawScanner,
  ReadOnlyWalImpls,
  ReadOptions,
  WalImpls,
  WalImplsBuilder,
  WalImplsCapabilities,
  WalImplsOpener,
} from '@walstream/core/spi';
import type {
  BoundCase,
  CaseDefinition,
  CaseStatus,
  RunnerTestContext,
  SuiteCaseResult,
  SuiteReport,
  TestRegistrar,
} from '../runner/types.js';
import type { WriterFreezer } from './freezer.js';

export type { CaseStatus, RunnerTestContext, TestRegistrar };

/** The groups of the walimpls suite, in the order they are registered. */
export const WALIMPLS_GROUPS = [
  'basics',
  'readWrite',
  'deliverPolicy',
  'scannerLifecycle',
  'backpressure',
  'readOnly',
  'reopen',
  'errors',
  'truncate',
  'fencing',
] as const;

/** A built-in group of the walimpls suite. */
export type WalImplsGroupName = (typeof WALIMPLS_GROUPS)[number];

/**
 * The group of a case: a built-in one, or any name of your own. Groups of your own are registered after
 * the built-in ones, in the order their first case comes in `cases`.
 */
export type WalImplsGroup = WalImplsGroupName | (string & Record<never, never>);

/**
 * One conformance case as plain data. `run` gets a fresh {@link WalImplsTestContext} (a fresh builder,
 * resources closed afterwards) and rejects with a descriptive error when the adapter does not conform.
 * `B` is your builder's type, so a case of your own reaches your adapter's state through `t.builder`.
 */
export type WalImplsCaseDefinition<B extends WalImplsBuilder = WalImplsBuilder> = CaseDefinition<
  WalImplsGroup,
  WalImplsTestContext<B>
>;

/** What a case sees: the adapter under test and helpers that track and release what they create. */
export interface WalImplsTestContext<B extends WalImplsBuilder = WalImplsBuilder> {
  /** The builder your factory made for this case. */
  readonly builder: B;
  /** `builder.name`: the `walName` every WAL and MessageID of the adapter must carry. */
  readonly walName: string;
  /** The builder's capabilities with the suite's overrides applied. */
  readonly capabilities: WalImplsCapabilities;
  readonly messageCount: number;
  /** fast-check runs of each drawn check that talks to the adapter, on top of its boundary examples. */
  readonly numRuns: number;
  /** The fast-check seed of the run when the options gave one (to replay a failure); else undefined. */
  readonly seed: number | undefined;
  /** The `messageIds` option: ids anywhere in the adapter's range, for the codec and order checks. */
  readonly messageIds: MessageIdSpace | undefined;
  /** The `storeProbe` option: what the adapter's readers took from the store. */
  readonly storeProbe: StoreProbe | undefined;
  /** The `writerFreezer` option (default {@link inProcessWriterFreezer}); undefined when turned off. */
  readonly writerFreezer: WriterFreezer | undefined;
  /** Aborts when the case runs out of time; every wait of the suite honours it. */
  readonly signal: AbortSignal;
  /** The case's opener, built on first use and closed after the case. */
  opener(): Promise<WalImplsOpener>;
  /**
   * Another opener: a second node talking to the same backend. From `t.builder` unless `builder` is given
   * (one from {@link newBuilder}). Closed after the case.
   */
  newOpener(builder?: B): Promise<WalImplsOpener>;
  /**
   * Calls your builder factory again: what a restarted process makes. It must reach the same backing
   * store (same brokers, same directory), so data written through `t.builder` is there.
   */
  newBuilder(): Promise<B>;
  /** A pchannel name no other case or run uses. */
  channelName(label: string): string;
  /** Opens a pchannel (on the case's opener unless one is given); the WAL is closed after the case. */
  open(
    name: string,
    term: bigint | number,
    accessMode?: AccessMode,
    opener?: WalImplsOpener,
  ): Promise<WalImpls>;
  /** Starts a reader; it is closed after the case. */
  read(
    wal: ReadOnlyWalImpls,
    options: Omit<ReadOptions, 'name'> & { readonly name?: string },
  ): Promise<RawScanner>;
  /**
   * Appends, retrying rejections marked `retriable` (see `appendRetries`). The suite records every id it
   * returns and, after the case, checks them all: ids of one pchannel compare in append order (an append
   * that resolved before another was called comes first), antisymmetrically and transitively, never equal
   * for two appends, and round-trip through `marshal` and the registered codec.
   */
  append(wal: WalImpls, message: MutableMessage): Promise<MessageID>;
  /** Ends the case as skipped (a missing capability). */
  skip(reason: string): never;
  /** Runs `cleanup` after the case, before the tracked resources are closed. */
  defer(cleanup: () => Promise<void> | void): void;
}

/**
 * Ids anywhere in your adapter's range, so the suite can check `compare`, `marshal` and your codec far
 * beyond the few hundred entries it appends (an offset past 2^24, ids 2^40 apart). `at` maps a position to
 * an id your adapter could make — it need not exist in any log — and must be strictly increasing:
 * `p < q` exactly when `at(p)` comes before `at(q)`. For offset ids that is `at = (p) => new MyId(p)`; an
 * adapter with composite ids maps positions onto them in order (Pulsar: the high bits to the ledger, the
 * low bits to the entry).
 */
export interface MessageIdSpace {
  /** The highest position `at` accepts; positions run from 0 to `max`, inclusive (at least 1). */
  readonly max: bigint;
  at(position: bigint): MessageID;
}

/**
 * A look into your store for the backpressure check `scanner.buffered` cannot make: the suite can only see
 * what a scanner delivers, and on a log that does not change, a reader that pulls everything into a hidden
 * queue delivers the same messages as one that stops at `readAheadBufferSize`.
 */
export interface StoreProbe {
  /**
   * How many entries of pchannel `pchannel` readers have taken from the store so far, over every reader of
   * every builder: a count that grows by one for each entry a reader fetched (a broker's bytes-out, a
   * file's read calls). The suite only compares differences.
   */
  fetched(pchannel: string): number | Promise<number>;
  /**
   * How many entries a reader may hold beyond `readAheadBufferSize` (the one a fetch loop holds while it
   * waits for room, one fetch batch). Default 1.
   */
  readonly slack?: number;
}

export interface WalImplsConformanceOptions<B extends WalImplsBuilder = WalImplsBuilder> {
  /**
   * Makes the adapter under test: called at the start of every case, and again by the cases that reopen
   * a pchannel as a restarted process would (`t.newBuilder()`). Every builder it returns must reach the
   * same backing store — the same brokers, the same directory, the same in-memory store object — while
   * clients, caches and connections are the builder's own.
   */
  builder: () => B | Promise<B>;
  /**
   * Overrides what the builder declares (e.g. to run `fencing` cases on an adapter that hides it). With
   * `fencing: false` the fencing cases skip and the case for adapters without fencing runs instead.
   */
  capabilities?: Partial<WalImplsCapabilities>;
  /** Messages per pchannel and term in `readWrite`; the other groups use fewer. Default 200. */
  messageCount?: number;
  /** `{ fencing: false }` turns a group off (a group of your own cases too). Every group is on by default. */
  groups?: Partial<Record<WalImplsGroup, boolean>>;
  /** Case names to skip. Unknown names are an error, so a typo cannot silently run everything. */
  skip?: readonly string[];
  /** Time budget of one case including its cleanup. Default 30 000 ms. */
  timeoutMs?: number;
  /**
   * How often an append rejected with a `retriable` error (UNAVAILABLE, TIMEOUT, …) is retried before the
   * case fails. Default 20; 0 makes every append failure fatal. See the README on fault injection.
   */
  appendRetries?: number;
  /**
   * fast-check runs of each drawn check that reads or writes (positions, read-ahead sizes, messages), on
   * top of the boundary examples every such check runs first. The pure MessageID checks run 20 times as
   * many. Default 10.
   */
  numRuns?: number;
  /** fast-check seed: a failure of a drawn check names the seed that replays it. Default: a fresh one. */
  seed?: number;
  /**
   * Ids anywhere in your adapter's range, for the case `ids across the adapter's whole range compare and
   * round-trip like their positions` (skipped without it). See {@link MessageIdSpace}.
   */
  messageIds?: MessageIdSpace;
  /**
   * A count of what readers took from your store, for the case `a reader that is not consumed stops taking
   * entries from the store` (skipped without it). See {@link StoreProbe}.
   */
  storeProbe?: StoreProbe;
  /**
   * How the `fencing` group's frozen-writer case stops a writer while a newer term opens and writes.
   * Default `inProcessWriterFreezer` (the writer's append loops paused in the suite's process); a harness
   * that can stop the adapter itself (a child process and SIGSTOP, a hook) passes its own; `false` skips
   * the case.
   */
  writerFreezer?: WriterFreezer | false;
  /** Prefix of pchannel names (backends with naming rules may need another one). Default `wsconf`. */
  channelPrefix?: string;
  /**
   * The cases to run; default every group. Pass e.g. `[...basics, ...myOwnCases]`. (`B` comes from
   * `builder`, not from here, so the built-in cases leave your builder's type as it is.)
   */
  cases?: readonly WalImplsCaseDefinition<NoInfer<B>>[];
  /**
   * Runs after each case's cleanup with that case's builder, e.g. to check the backend holds no reader
   * or connection the case opened. A throw fails the case.
   */
  afterCase?: (builder: B) => void | Promise<void>;
}

/**
 * A case bound to its options: everything a runner needs. `run` builds a fresh adapter, runs the case
 * and closes what it opened.
 */
export type WalImplsConformanceCase = BoundCase<WalImplsGroup>;

export type CaseResult = SuiteCaseResult<WalImplsGroup>;

export type ConformanceReport = SuiteReport<WalImplsGroup>;
