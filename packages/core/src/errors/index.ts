export {
  type ErrorCode,
  isRetriableByDefault,
  MILVUS_ERROR_NUMBERS,
  type MilvusErrorCode,
  type WalstreamErrorCode,
} from './codes.js';
export {
  type AppendOutcome,
  abortError,
  appendOutcome,
  hasCode,
  toWalError,
  WalError,
  type WalErrorOptions,
  walError,
} from './wal-error.js';
