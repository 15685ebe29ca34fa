export {
  type AllocatorStep,
  allocatorSteps,
  concurrentAllocations,
  generatedAllocations,
  mixedAllocations,
  Returned,
  sequentialAllocations,
} from './allocator/contract.js';
export {
  registerTimestampAllocatorConformance,
  runTimestampAllocatorConformance,
  TIMESTAMP_ALLOCATOR_GROUPS,
  type TimestampAllocatorCaseDefinition,
  type TimestampAllocatorCaseResult,
  type TimestampAllocatorConformanceCase,
  type TimestampAllocatorConformanceOptions,
  type TimestampAllocatorGroupName,
  type TimestampAllocatorReport,
  type TimestampAllocatorTestContext,
  timestampAllocatorCaseDefinitions,
  timestampAllocatorConformanceCases,
} from './allocator/suite.js';
export { AppendFaults, type AppendFaultsAdapter, withAppendFaults } from './append-faults.js';
export { assertReadersAgree, entryOf, type LogEntry, logOf } from './checks/agreement.js';
export { assertExactlyOnce } from './checks/delivery.js';
export { assertExclusiveAlone } from './checks/exclusive.js';
export { assertResumedExactly, throughMarkers } from './checks/resume.js';
export { assertInsertsInSegments, type SegmentTally } from './checks/segments.js';
export { assertTimeTickContract, assertTimeTickOrder } from './checks/timetick.js';
export {
  assertCommittedWhole,
  assertExpiredCommitsRefused,
  assertUncommittedInvisible,
} from './checks/txn.js';
export { semanticsCaseDefinitions, semanticsGroups } from './groups/index.js';
export {
  Ledger,
  type Outcome,
  type PlainKind,
  type PlainRecord,
  type TxnBodyRecord,
  type TxnEnd,
  type TxnRecord,
} from './ledger.js';
export { AckLoss, withAckLoss } from './lost-acks.js';
export {
  describeMessage,
  type Identified,
  identify,
  KEY_PROPERTY,
  SemanticsExclusive,
  SemanticsNote,
} from './messages.js';
export { defaultProtocol, INSERT_ROWS } from './protocol.js';
export { Reader, type ReaderEnd, type ReaderScope, type ReadRecord } from './reader.js';
export { type CheckpointSave, RecordingCatalog } from './recording-catalog.js';
export {
  describeSchedule,
  type Op,
  type Schedule,
  type ScheduleShape,
  type Step,
  scheduleArbitrary,
} from './schedule/arbitrary.js';
export { type ExecutionHooks, execute } from './schedule/execute.js';
export { type ReadFrom, SemanticsStack } from './stack.js';
export {
  registerSemanticsConformance,
  runSemanticsConformance,
  semanticsConformanceCases,
} from './suite.js';
export { TailChain } from './tail-chain.js';
export {
  type AppendFaultSwitch,
  SEMANTICS_GROUPS,
  type SegmentEvent,
  type SemanticsCaseDefinition,
  type SemanticsCaseResult,
  type SemanticsConformanceCase,
  type SemanticsConformanceOptions,
  type SemanticsGroupName,
  type SemanticsProtocol,
  type SemanticsReport,
  type SemanticsTestContext,
  type StackScope,
} from './types.js';
