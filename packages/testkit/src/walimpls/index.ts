export { ConformanceFailure } from './assert.js';
export {
  backpressure,
  basics,
  deliverPolicy,
  errors,
  fencing,
  readOnly,
  readWrite,
  scannerLifecycle,
  truncate,
  walimplsCaseDefinitions,
  walimplsGroups,
} from './groups/index.js';
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
  type RunnerTestContext,
  type TestRegistrar,
  WALIMPLS_GROUPS,
  type WalImplsCaseDefinition,
  type WalImplsConformanceCase,
  type WalImplsConformanceOptions,
  type WalImplsGroupName,
  type WalImplsTestContext,
} from './types.js';
