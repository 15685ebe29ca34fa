import type {
  Catalog,
  ImmutableMessage,
  MutableMessage,
  TimestampAllocator,
  TxnContext,
  Wal,
} from '@walstream/core';
import type { WalRuntimeOptions } from '@walstream/core/internal';
import type { InterceptorBuilder, WalImplsBuilder } from '@walstream/core/spi';
import type fc from 'fast-check';
import type {
  BoundCase,
  CaseDefinition,
  RunnerTestContext,
  SuiteCaseResult,
  SuiteReport,
  TestRegistrar,
} from '../runner/types.js';
import type { SemanticsStack } from './stack.js';

/** The groups of the semantics suite, in the order they are registered. */
export const SEMANTICS_GROUPS = [
  'ordering',
  'timeTick',
  'txn',
  'resume',
  'exclusive',
  'segments',
  'recovery',
  'allocator',
] as const;

export type SemanticsGroupName = (typeof SEMANTICS_GROUPS)[number];

/**
 * One case as plain data. `run` gets a fresh {@link SemanticsTestContext} and rejects with a
 * `ConformanceFailure` that says what the stack did and what the contract expects.
 */
export type SemanticsCaseDefinition = CaseDefinition<SemanticsGroupName, SemanticsTestContext>;

/** Where the stacks of a case or of one property run come from; everything made is closed afterwards. */
export interface StackScope {
  /** Aborts when the case runs out of time; every wait of the suite honours it. */
  readonly signal: AbortSignal;
  /** A fresh pchannel through the full stack, opened at term 1 with `vchannels` vchannels created. */
  stack(label: string, vchannels?: number): Promise<SemanticsStack>;
}

export interface SemanticsTestContext extends StackScope {
  /** Runs of each property (fast-check `numRuns`). */
  readonly numRuns: number;
  /** Whether the options give a fault hook, so schedules may switch injected append errors on. */
  readonly faults: boolean;
  /** The append error rate schedules switch on. */
  readonly appendErrorRate: number;
  /** How long a reader may take to deliver what was acknowledged before the checks judge what it has. */
  readonly settleMs: number;
  /** How the stack is spoken to: the options' protocol over the default one. */
  readonly protocol: SemanticsProtocol;
  /** A fresh timestamp allocator from the options (what each stack gets). */
  allocator(): TimestampAllocator;
  /**
   * Checks `body` on `numRuns` generated values. Each run gets its own {@link StackScope}, closed when
   * the run ends. A failing run fails the case with the counterexample, and the seed and path to replay
   * it (`options.seed`, `options.path`).
   */
  forAll<T>(
    arbitrary: fc.Arbitrary<T>,
    body: (value: T, scope: StackScope) => Promise<void>,
    options?: { readonly numRuns?: number; readonly describe?: (value: T) => string },
  ): Promise<void>;
  /** Ends the case as skipped. */
  skip(reason: string): never;
}

/** A delivered message's effect on a segment; see {@link SemanticsProtocol.segmentEvent}. */
export interface SegmentEvent {
  readonly kind: 'create' | 'insert' | 'flush';
  /** The segment id, as text. */
  readonly segment: string;
}

/** Switches injected append errors of one pchannel; the memory adapter's `store.faults(p)` is one. */
export interface AppendFaultSwitch {
  set(config: { readonly appendErrorRate: number }): unknown;
}

/**
 * How the suite speaks the semantics interceptors' message protocol: how a vchannel is made known and
 * how the messages of a txn are built. The default follows `@walstream/interceptors`; a stack with
 * another protocol passes its own.
 */
export interface SemanticsProtocol {
  /** Makes `vchannel` known to the WAL; appends to an unknown vchannel are refused. */
  createVChannel(wal: Wal, vchannel: string): Promise<void>;
  /**
   * A data message on `vchannel` carrying `payload` that the stack assigns to a segment (Milvus's Insert):
   * the WAL creates segments for it, fills and seals them, and reruns it (redo) while a segment is being
   * made. The default declares 200 000 rows, so the default segment (1 000 000 rows) is sealed by its
   * fifth insert; a stack with smaller segments passes its own.
   */
  insert(vchannel: string, payload: Uint8Array): MutableMessage;
  /**
   * What a delivered message does to segments: an Insert names the segment it went to, a CreateSegment
   * the one it makes, a Flush the one it seals; undefined for anything else. Without it the segments case
   * is skipped.
   */
  segmentEvent?(message: ImmutableMessage): SegmentEvent | undefined;
  /** A BeginTxn on `vchannel` that asks for `keepaliveMs`; the append result carries the txn context. */
  beginTxn(vchannel: string, keepaliveMs: number): MutableMessage;
  commitTxn(vchannel: string, context: TxnContext): MutableMessage;
  rollbackTxn(vchannel: string, context: TxnContext): MutableMessage;
}

export interface SemanticsConformanceOptions<A extends WalImplsBuilder = WalImplsBuilder> {
  /** Makes the adapter under test; called for each stack (each case, each property run). */
  adapter: () => A | Promise<A>;
  /**
   * The interceptors, outermost first, e.g. `() => walSemantics()`. Called once per WAL opened (each
   * term), so interceptors never share state across terms except through the catalog.
   */
  interceptors: () => readonly InterceptorBuilder[];
  /**
   * Turns on injected append errors: given the adapter and a pchannel, the switch to set
   * `{ appendErrorRate }` on. For the memory adapter: `(adapter, p) => adapter.store.faults(p)`. Without
   * it schedules run without injected errors.
   */
  faults?: (adapter: A, pchannel: string) => AppendFaultSwitch;
  /** The rate schedules switch injected append errors on at. Default 0.2. */
  appendErrorRate?: number;
  /**
   * How long a reader may take to deliver the end markers once they were acknowledged. A reader that
   * does not is judged on what it delivered (its first broken promise is reported). Default 5 000 ms.
   */
  settleMs?: number;
  /** Protocol overrides (vchannel creation, txn messages); see {@link SemanticsProtocol}. */
  protocol?: Partial<SemanticsProtocol>;
  /** The catalog of one stack (shared by its terms). Default: a fresh `MemoryCatalog`. */
  catalog?: () => Catalog;
  /** The timestamp allocator (the TSO) of one stack, shared by its terms. Default: a local allocator. */
  allocator?: () => TimestampAllocator;
  /** Runtime options; the default retries adapter faults fast (1 ms doubling to 20 ms). */
  runtime?: WalRuntimeOptions;
  /** fast-check runs per property case. Default 20. */
  numRuns?: number;
  /** fast-check seed, to replay a failure the suite reported. */
  seed?: number;
  /** fast-check path, with `seed`, to replay exactly the failing run. */
  path?: string;
  /** Shrink a failing schedule to a smaller one (slower to fail, easier to read). Default false. */
  shrink?: boolean;
  /** `{ recovery: false }` turns a group off. Every group is on by default. */
  groups?: Partial<Record<SemanticsGroupName, boolean>>;
  /** Case names to skip. Unknown names are an error. */
  skip?: readonly string[];
  /** Time budget of one case including cleanup. Default 60 000 ms. */
  timeoutMs?: number;
  /** Prefix of pchannel names. Default `wssem`. */
  channelPrefix?: string;
  /** The cases to run; default every group. */
  cases?: readonly SemanticsCaseDefinition[];
}

/** A case bound to its options; `run` resolves `passed` or `skipped`, rejects with the conformance failure. */
export type SemanticsConformanceCase = BoundCase<SemanticsGroupName>;

export type SemanticsCaseResult = SuiteCaseResult<SemanticsGroupName>;

export type SemanticsReport = SuiteReport<SemanticsGroupName>;

export type { RunnerTestContext, TestRegistrar };
