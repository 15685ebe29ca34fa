/**
 * @walstream/core/internal — shared by walstream's own packages. No stability promise: anything here can
 * change in any release. Applications and extension authors use `@walstream/core` and `/spi`.
 */

export { isRetriableByDefault, MILVUS_ERROR_NUMBERS } from './errors/codes.js';
export { walError } from './errors/wal-error.js';
export {
  decodeBroadcastHeader,
  encodeBroadcastHeader,
} from './message/broadcast.js';
export { assertUserProperties } from './message/properties.js';
export {
  decodeTxnContext,
  encodeTxnContext,
  INFINITE_KEEPALIVE_MS,
  NON_TXN_ID,
} from './message/txn-context.js';
export { ImmutableTxnMessageBuilder } from './message/txn-message.js';
export {
  MessageIdRegistry,
  maxMessageId,
  messageIdLess,
  messageIds,
} from './message-id/message-id.js';
export { appendChannel, readChannel } from './observability/channels.js';
export {
  booleanOption,
  checkKnownKeys,
  functionOption,
  type IntegerRange,
  integerOption,
  numberOption,
  oneOfOption,
  stringOption,
} from './options/check.js';
export { compileFilters } from './runtime/filters.js';
export { type WalStack, WalStackOpener } from './runtime/opener.js';
export { MinHeap } from './runtime/ordering/min-heap.js';
export { ReorderBuffer } from './runtime/ordering/reorder-buffer.js';
export { TimeTickOrderer } from './runtime/ordering/timetick-orderer.js';
export { TxnBuffer } from './runtime/ordering/txn-buffer.js';
export { WalScanner, type WalScannerSource } from './runtime/scanner.js';
export { WalRuntime, type WalRuntimeOptions } from './runtime/wal-runtime.js';
export { addMilliseconds, LOGICAL_BITS, LOGICAL_MASK, MAX_TIMETICK } from './timetick/hybrid.js';
export {
  abortable,
  type BackoffOptions,
  delay,
  isRetriableFailure,
  type RetryOptions,
  retryWithBackoff,
} from './util/backoff.js';
export { BoundedBuffer } from './util/bounded-buffer.js';
// The LZ4 block compressor both broker adapters' codecs use (strict decoders' end-of-block rules).
export { compressBlock as compressLz4Block } from './util/lz4-block.js';
