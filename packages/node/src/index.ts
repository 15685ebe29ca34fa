/**
 * @walstream/node — the StreamingNode: owns WALs by (pchannel, term) and serves them over gRPC.
 */

// Idempotent appends: the bounds of the window each WAL deduplicates (producer id, sequence) within.
export type { IdempotenceOptions, IdempotenceStats } from './dedup/index.js';
// The flusher: sinks that take each vchannel's messages, so the WAL can be truncated behind them.
export {
  FILE_SINK_VERSION,
  type FileSinkOptions,
  type FileSinkRecord,
  type FlushedMessage,
  type FlusherOptions,
  type FlushSink,
  type FlushSinkWriter,
  fileSink,
  fileSinkPath,
  type RetentionOptions,
  readFileSink,
} from './flusher/index.js';
// Start a node: a WAL manager over a store and a catalog, served over gRPC until closed.
export { type StartNodeOptions, type StreamingNode, startNode } from './node.js';
// Flow control: what producers may hold in flight on a node, and the pressure it pushes to them.
export type {
  FlowControlOptions,
  FlowControlStats,
  RateLimitLevel,
} from './services/flow-control.js';
// The WAL manager: one WAL per pchannel, opened and removed by term, its lifetime as events and status.
export {
  createWalManager,
  type WalLifetimeEvent,
  type WalLifetimeState,
  type WalManager,
  type WalManagerOptions,
  type WalStatusSnapshot,
} from './wal-manager/wal-manager.js';
