/**
 * @walstream/interceptors — the WAL semantics of walstream: ordered, transactional, replayable vchannels
 * on a pchannel. Everything else in this package is private.
 */

// Compose the stack: `createWal().adapter(…).use(...walSemantics(options))`, or the builders one by one
// (outermost first, the same options object for each), or by name after registerSemantics(registry).
export {
  lock,
  redo,
  registerSemantics,
  shard,
  timeTick,
  walSemantics,
} from './builders.js';
// For interceptor authors: an interceptor inside redo asks for a rerun with a fresh timetick.
export { isRedoRequest, redoRequest } from './errors.js';
export type {
  RecoveryOptions,
  RedoOptions,
  SegmentPolicy,
  SemanticsOptions,
  ShardOptions,
  TimeTickOptions,
  TxnOptions,
  WabOptions,
  WorkerRetryOptions,
} from './options.js';
// For the node that owns a WAL: its checkpoints, and the flushed position its sinks hold truncation to.
export {
  type LogPosition,
  type SavedCheckpoint,
  type WalCheckpoints,
  walCheckpoints,
} from './recovery/checkpoints.js';
// For catalog authors: the checkpoint record the stack saves (core's WalCheckpoint and one string field).
export type { SemanticsCheckpoint } from './recovery/storage.js';
export { ShardMessageType, type ShardMessageTypeName, shardMessageTypes } from './shard/message-types.js';
// Vchannels: create one before appending to it, drop it when it is done.
// Milvus's collection, partition and segment messages, for stacks that want Milvus's behaviour.
export {
  type CollectionHeader,
  type CreateCollectionHeader,
  type CreateSegmentHeader,
  createVChannel,
  DEFAULT_PARTITION_ID,
  type DeleteHeader,
  dropVChannel,
  type FlushHeader,
  type InsertHeader,
  type ManualFlushHeader,
  type PartitionHeader,
  shardHeaders,
  shardMessages,
} from './shard/messages.js';
// Transactions on one vchannel.
export {
  type BeginTxnOptions,
  beginTxnMessage,
  commitTxnMessage,
  inTxn,
  rollbackTxnMessage,
} from './timetick/txn-messages.js';
