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

export type { CaseStatus, RunnerTestContext, TestRegistrar };

/** The groups of the walimpls suite, in the order they are registered. */
export const WALIMPLS_GROUPS = [
  'basics',
  'readWrite',
  'deliverPolicy',
  'scannerLifecycle',
  'backpressure',
  'readOnly',
  'errors',
  'truncate',
  'fencing',
] as const;

export type WalImplsGroupName = (typeof WALIMPLS_GROUPS)[number];

/**
 * One conformance case as plain data. `run` gets a fresh {@link WalImplsTestContext} (a fresh builder,
 * resources closed afterwards) and rejects with a descriptive error when the adapter does not conform.
 */
export type WalImplsCaseDefinition = CaseDefinition<WalImplsGroupName, WalImplsTestContext>;

/** What a case sees: the adapter under test and helpers that track and release what they create. */
export interface WalImplsTestContext {
  readonly builder: WalImplsBuilder;
  /** `builder.name`: the `walName` every WAL and MessageID of the adapter must carry. */
  readonly walName: string;
  /** The builder's capabilities with the suite's overrides applied. */
  readonly capabilities: WalImplsCapabilities;
  readonly messageCount: number;
  /** Aborts when the case runs out of time; every wait of the suite honours it. */
  readonly signal: AbortSignal;
  /** The case's opener, built on first use and closed after the case. */
  opener(): Promise<WalImplsOpener>;
  /** Another opener from the same builder: a second node talking to the same backend. Closed after the case. */
  newOpener(): Promise<WalImplsOpener>;
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
  /** Appends, retrying rejections marked `retriable` (see `appendRetries`). */
  append(wal: WalImpls, message: MutableMessage): Promise<MessageID>;
  /** Ends the case as skipped (a missing capability). */
  skip(reason: string): never;
  /** Runs `cleanup` after the case, before the tracked resources are closed. */
  defer(cleanup: () => Promise<void> | void): void;
}

export interface WalImplsConformanceOptions<B extends WalImplsBuilder = WalImplsBuilder> {
  /** Makes the adapter under test; called once per case so cases never share state. */
  builder: () => B | Promise<B>;
  /** Overrides what the builder declares (e.g. to run `fencing` cases on an adapter that hides it). */
  capabilities?: Partial<WalImplsCapabilities>;
  /** Messages per pchannel and term in `readWrite`; the other groups use fewer. Default 200. */
  messageCount?: number;
  /** `{ fencing: false }` turns a group off. Every group is on by default. */
  groups?: Partial<Record<WalImplsGroupName, boolean>>;
  /** Case names to skip. Unknown names are an error, so a typo cannot silently run everything. */
  skip?: readonly string[];
  /** Time budget of one case including its cleanup. Default 30 000 ms. */
  timeoutMs?: number;
  /**
   * How often an append rejected with a `retriable` error (UNAVAILABLE, TIMEOUT, …) is retried before the
   * case fails. Default 20; 0 makes every append failure fatal. See the README on fault injection.
   */
  appendRetries?: number;
  /** Prefix of pchannel names (backends with naming rules may need another one). Default `wsconf`. */
  channelPrefix?: string;
  /** The cases to run; default every group. Pass e.g. `[...basics, ...myOwnCases]`. */
  cases?: readonly WalImplsCaseDefinition[];
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
export type WalImplsConformanceCase = BoundCase<WalImplsGroupName>;

export type CaseResult = SuiteCaseResult<WalImplsGroupName>;

export type ConformanceReport = SuiteReport<WalImplsGroupName>;
