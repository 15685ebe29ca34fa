/**
 * @walstream/core/spi — for authors of adapters (a log store under walstream) and of interceptors (a
 * layer of the append chain). Applications need only `@walstream/core`.
 */

export { assertPChannelInfo } from './channel/channel.js';
// Errors an adapter raises.
export { abortError, toWalError } from './errors/wal-error.js';
// System properties and their encodings, for stores that keep them beside the payload.
export {
  decodeBase36,
  encodeBase36,
  isReservedPropertyKey,
  MessageVersion,
  SystemProperty,
} from './message/properties.js';
// MessageIDs of your store: register the codec once, compare only ids of your own store.
export {
  assertSameWal,
  type MessageIdUnmarshaler,
  registerMessageIdCodec,
} from './message-id/message-id.js';
// Observability handed to adapters and interceptors.
export {
  createObservability,
  noObservability,
  type Observability,
} from './observability/index.js';
// The interceptor contract: one layer of the append onion.
export type {
  AppendContext,
  AppendNext,
  Interceptor,
  InterceptorBuilder,
  InterceptorBuildParams,
} from './runtime/interceptor.js';
export { type SharedKey, SharedState, sharedKey } from './runtime/shared-state.js';
export type { TailBuffer, TailReader } from './runtime/tail-buffer.js';
export { describeDeliverPolicy } from './walimpls/deliver-policy.js';
export {
  createRawScanner,
  DEFAULT_READ_AHEAD_BUFFER_SIZE,
  type RawScannerSpec,
  type ScannerSink,
} from './walimpls/raw-scanner.js';
export { checkDeliverPolicy, checkReadAheadBufferSize } from './walimpls/read-options.js';
// The adapter contract: builder → opener → one WAL per pchannel and term → raw scanners.
export type {
  AppendOptions,
  BuildOptions,
  OpenOptions,
  RawScanner,
  ReadOnlyWalImpls,
  ReadOptions,
  WalImpls,
  WalImplsBuilder,
  WalImplsCapabilities,
  WalImplsOpener,
} from './walimpls/spi.js';
