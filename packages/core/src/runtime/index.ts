export { compileFilters, DeliverFilter } from './filters.js';
export type {
  AppendContext,
  AppendNext,
  AppendResult,
  Interceptor,
  InterceptorBuilder,
  InterceptorBuildParams,
} from './interceptor.js';
export { type WalStack, WalStackOpener } from './opener.js';
export * from './ordering/index.js';
export { WalScanner, type WalScannerSource } from './scanner.js';
export { type SharedKey, SharedState, sharedKey } from './shared-state.js';
export type { TailBuffer, TailReader } from './tail-buffer.js';
export type {
  AppendNotification,
  DeliveriesOptions,
  Delivery,
  Scanner,
  ScannerProgress,
  ScannerState,
  ScanOptions,
  Wal,
  WalAppendOptions,
  WalOpener,
  WalState,
} from './wal.js';
export {
  DEFAULT_APPEND_RETRY,
  shouldRetryAppend,
  WalRuntime,
  type WalRuntimeOptions,
} from './wal-runtime.js';
