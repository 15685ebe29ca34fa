export { ConformanceFailure } from '../runner/assert.js';
// How the fencing group's frozen-writer case stops a writer; the in-process default.
export {
  type FreezableWriter,
  type FreezerStart,
  type FrozenWriterOutcome,
  inProcessWriterFreezer,
  type WriterFreezer,
} from './freezer.js';
// Every group's cases by name, `walimplsGroups` and `walimplsCaseDefinitions`.
export * from './groups/index.js';
export {
  type ProcessWriterFreezerOptions,
  processWriterFreezer,
  runFrozenWriter,
} from './process-freezer.js';
export {
  registerWalImplsConformance,
  runConformanceCases,
  runWalImplsConformance,
  walimplsConformanceCases,
} from './suite.js';
export {
  type CaseResult,
  type CaseStatus,
  type ConformanceReport,
  type MessageIdSpace,
  type RunnerTestContext,
  type StoreProbe,
  type TestRegistrar,
  WALIMPLS_GROUPS,
  type WalImplsCaseDefinition,
  type WalImplsConformanceCase,
  type WalImplsConformanceOptions,
  type WalImplsGroup,
  type WalImplsGroupName,
  type WalImplsTestContext,
} from './types.js';
