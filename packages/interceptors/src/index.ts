export { lock, redo, registerSemantics, shard, timeTick, walSemantics } from './builders.js';
export { SemanticsContext, semanticsContext } from './context.js';
export { isRedoRequest, redoReady, redoRequest, vchannelError } from './errors.js';
export { LockInterceptor } from './lock/interceptor.js';
export { KeyedRwLock, type Release, RwLock } from './lock/rw-lock.js';
export type {
  RecoveryOptions,
  RedoOptions,
  SegmentPolicy,
  SemanticsOptions,
  ShardOptions,
  TimeTickOptions,
  TxnOptions,
} from './options.js';
export {
  type OpenTxn,
  RecoveryTxnBuffer,
  type RecoveryTxnBufferOptions,
  type Reorderer,
  type TxnCollector,
} from './recovery/ordering.js';
export { type ReplayOptions, type ReplayResult, replayToFence } from './recovery/replay.js';
export {
  type Checkpoint,
  loadCheckpoint,
  RecoveryStorage,
  type SemanticsCheckpoint,
} from './recovery/storage.js';
export { RedoInterceptor } from './redo/interceptor.js';
export {
  type CollectionHeader,
  type CreateCollectionHeader,
  type CreateSegmentHeader,
  DEFAULT_PARTITION_ID,
  type DeleteHeader,
  decodeCreateCollection,
  decodeCreateSegment,
  decodeFlush,
  decodeInsert,
  decodeManualFlush,
  type FlushHeader,
  type InsertHeader,
  type ManualFlushHeader,
  type PartitionHeader,
  shardMessages,
} from './shard/headers.js';
export { type LiveSegment, type SegmentState, ShardManager } from './shard/manager.js';
export {
  ShardMessageType,
  type ShardMessageTypeName,
  type ShardMessageTypes,
  shardMessageTypes,
} from './shard/message-types.js';
export {
  type SegmentMeta,
  ShardState,
  type ShardStateJson,
  type VChannelMeta,
  type VChannelState,
} from './shard/state.js';
export {
  type AckDetail,
  Acker,
  AckManager,
  type AckManagerOptions,
  type AckOutcome,
} from './timetick/ack-manager.js';
export { TimeTickInterceptor } from './timetick/interceptor.js';
export { type ConfirmedEntry, LastConfirmedManager, type TxnLiveness } from './timetick/last-confirmed.js';
export {
  type SyncListener,
  type SyncOperatorOptions,
  TimeTickSyncOperator,
} from './timetick/sync-operator.js';
export {
  DEFAULT_TXN_KEEPALIVE_MS,
  type RecoveredTxn,
  TxnManager,
  type TxnManagerOptions,
} from './txn/manager.js';
export {
  type BeginTxnOptions,
  beginTxnMessage,
  commitTxnMessage,
  inTxn,
  rollbackTxnMessage,
} from './txn/messages.js';
export { TxnSession } from './txn/session.js';
export {
  DEFAULT_WAB_CAPACITY_BYTES,
  DEFAULT_WAB_KEEPALIVE_MS,
  WriteAheadBuffer,
  type WriteAheadBufferOptions,
} from './wab/write-ahead-buffer.js';
