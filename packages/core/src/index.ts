/**
 * @walstream/core — what an application needs to compose a WAL stack, write and read it.
 *
 * Adapter and interceptor authors also import `@walstream/core/spi`. Everything else is internal.
 */

// Compose a stack: an adapter, interceptors, and the opener they build.
export {
  type CreateWalOptions,
  createWal,
  type NamedInterceptor,
  type WalBuilder,
} from './builder/create-wal.js';
// Channels.
export {
  type AccessMode,
  INITIAL_TERM,
  type PChannelInfo,
  pchannel,
  pchannelOfVChannel,
  vchannelName,
} from './channel/channel.js';
// Contracts a deployment plugs in: the catalog, balance policies.
export type {
  BalanceBound,
  BalancePolicy,
  CurrentLayout,
  ExpectedLayout,
  NodeStatus,
  PChannelStatus,
} from './contracts/balance-policy.js';
export type {
  BroadcastTaskRecord,
  Catalog,
  PChannelAssignmentState,
  PChannelMeta,
  WalCheckpoint,
} from './contracts/catalog.js';
export { MemoryCatalog } from './contracts/memory-catalog.js';
// Errors: one type, a stable code, and whether a retry can succeed.
export type { ErrorCode, MilvusErrorCode, WalstreamErrorCode } from './errors/codes.js';
export {
  type AppendOutcome,
  appendOutcome,
  hasCode,
  WalError,
  type WalErrorOptions,
} from './errors/wal-error.js';
export {
  type BroadcastHeader,
  exclusiveResourceKey,
  ResourceDomain,
  type ResourceKey,
  sharedResourceKey,
} from './message/broadcast.js';
// Messages: build them, define your own types, read what was appended.
export { decodeBody, MessageBuilder, newMessage, splitBroadcast } from './message/builder.js';
export { ImmutableMessage, MutableMessage } from './message/message.js';
export {
  type BodyCodec,
  defineMessageType,
  type MessageTypeDefinition,
  type MessageTypeFlags,
  MessageTypeRegistry,
  messageTypes,
  SystemMessageType,
  type SystemMessageTypeName,
} from './message/message-type.js';
export type { Properties } from './message/properties.js';
export { type TxnContext, TxnState } from './message/txn-context.js';
export { ImmutableTxnMessage } from './message/txn-message.js';
// MessageIDs: opaque, ordered per pchannel, marshalled as strings.
export {
  compareMessageIds,
  type MessageID,
  messageIdEquals,
  unmarshalMessageId,
} from './message-id/message-id.js';
// Observability: a pino-compatible logger, OpenTelemetry metrics, diagnostics_channel tracing.
export {
  type BackgroundErrorEvent,
  diagnosticChannelNames,
  type Logger,
  type ObservabilityOptions,
  silentLogger,
} from './observability/index.js';
export {
  type AdapterFactory,
  type AdapterOptions,
  type InterceptorFactory,
  type InterceptorOptions,
  type RegisteredAdapters,
  type RegisteredInterceptors,
  Registry,
  registry,
} from './registry/registry.js';
export { DeliverFilter } from './runtime/filters.js';
// Records in a log that are not walstream messages: skipped (default) or a failure.
export { type ForeignRecordsPolicy, foreignReason } from './runtime/foreign.js';
export type { AppendResult } from './runtime/interceptor.js';
// A pchannel's WAL: append, read, truncate, close.
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
} from './runtime/wal.js';
// TimeTicks: hybrid timestamps, physical ms << 18 | logical.
export {
  type LocalAllocatorOptions,
  LocalTimestampAllocator,
  type TimestampAllocator,
} from './timetick/allocator.js';
export { composeTimeTick, logicalOf, physicalMsOf } from './timetick/hybrid.js';
export { DeliverPolicy } from './walimpls/deliver-policy.js';
