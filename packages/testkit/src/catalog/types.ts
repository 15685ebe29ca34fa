import type { Catalog } from '@walstream/core';
import type {
  CaseDefinition,
  CaseSelection,
  RunnerTestContext,
  SuiteCaseResult,
  SuiteReport,
  TestRegistrar,
} from '../runner/types.js';

export type { RunnerTestContext, TestRegistrar };

/** The groups of the catalog suite, in the order they are registered. */
export const CATALOG_GROUPS = [
  'pchannels',
  'broadcasts',
  'checkpoints',
  'timestamps',
  'durability',
  'sharing',
] as const;

export type CatalogGroupName = (typeof CATALOG_GROUPS)[number];
/** A built-in group, or a name of your own for cases you add. */
export type CatalogGroup = CatalogGroupName | (string & Record<never, never>);

/** What a case sees. Every catalog and handle it gets is closed (through `close`) after the case. */
export interface CatalogTestContext<C extends Catalog = Catalog> {
  /** A new, empty catalog from your factory. */
  readonly catalog: C;
  /** fast-check runs of each drawn check, on top of its boundary examples. */
  readonly numRuns: number;
  /** The fast-check seed when the options gave one (to replay a failure). */
  readonly seed: number | undefined;
  /** Aborts when the case runs out of time. */
  readonly signal: AbortSignal;
  /**
   * Another handle on the same store as `catalog`, as a restarted or second process would open it; the
   * case is skipped when the options have no `reopen`.
   */
  reopen(): Promise<Catalog>;
  /** Whether handles from `reopen` may write at the same time as `catalog` (a shared store such as etcd). */
  readonly concurrentHandles: boolean;
  /** Ends the case as skipped. */
  skip(reason: string): never;
}

export type CatalogCaseDefinition<C extends Catalog = Catalog> = CaseDefinition<
  CatalogGroup,
  CatalogTestContext<C>
>;

export interface CatalogConformanceOptions<C extends Catalog = Catalog> extends CaseSelection<CatalogGroup> {
  /** A new, empty catalog for each case (its own file, its own etcd prefix, ...). */
  readonly catalog: () => C | Promise<C>;
  /**
   * Another handle on the store of `catalog`: what a restarted process opens. Without it the
   * `durability` and `sharing` groups are skipped.
   */
  readonly reopen?: (catalog: C) => Catalog | Promise<Catalog>;
  /**
   * Handles from `reopen` may be used at the same time as the first one, as two processes on a shared
   * store would (etcd: yes; a single-process file: no). Turns on the `sharing` group. Default false.
   */
  readonly concurrentHandles?: boolean;
  /** Releases a catalog or handle after its case (close a client, remove a file). */
  readonly close?: (catalog: Catalog) => void | Promise<void>;
  /** fast-check runs of each drawn check. Default 25. */
  readonly numRuns?: number;
  /** fast-check seed, to replay a failure. */
  readonly seed?: number;
  /** Deadline of one case. Default 60 s. */
  readonly timeoutMs?: number;
  /** The cases to run instead of the built-in ones (e.g. `[...catalogCaseDefinitions, ...mine]`). */
  readonly cases?: readonly CatalogCaseDefinition<C>[];
}

export type CatalogCaseResult = SuiteCaseResult<CatalogGroup>;
export type CatalogConformanceReport = SuiteReport<CatalogGroup>;
