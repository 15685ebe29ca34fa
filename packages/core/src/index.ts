export * from './channel/channel.js';
export * from './contracts/index.js';
export * from './errors/index.js';
export * from './message/index.js';
export * from './message-id/message-id.js';
export * from './registry/index.js';
export * from './runtime/index.js';
export * from './timetick/index.js';
export {
  type BackoffOptions,
  delay,
  isRetriableFailure,
  type RetryOptions,
  retryWithBackoff,
} from './util/backoff.js';
export { BoundedBuffer } from './util/bounded-buffer.js';
export * from './walimpls/index.js';
