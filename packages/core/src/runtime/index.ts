export { compileFilters, DeliverFilter } from './filters.js';
export type {
  AppendContext,
  AppendNext,
  AppendResult,
  Interceptor,
  InterceptorBuilder,
  InterceptorBuildParams,
} from './interceptor.js';
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
