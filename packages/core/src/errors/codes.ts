/**
 * Stable error codes. The first block mirrors the streaming codes of the Milvus original (with their wire
 * numbers, so a gRPC status detail stays interoperable); the second block is walstream's own.
 */
export const MILVUS_ERROR_NUMBERS = {
  CHANNEL_NOT_EXIST: 1,
  CHANNEL_FENCED: 2,
  ON_SHUTDOWN: 3,
  INVALID_REQUEST_SEQ: 4,
  UNMATCHED_CHANNEL_TERM: 5,
  IGNORED_OPERATION: 6,
  INNER: 7,
  INVALID_ARGUMENT: 8,
  TRANSACTION_EXPIRED: 9,
  INVALID_TRANSACTION_STATE: 10,
  UNRECOVERABLE: 11,
  RESOURCE_ACQUIRED: 12,
  REPLICATE_VIOLATION: 13,
  UNKNOWN: 999,
} as const;

export type MilvusErrorCode = keyof typeof MILVUS_ERROR_NUMBERS;

export type WalstreamErrorCode =
  /** A write was attempted on a WAL or adapter opened read-only. */
  | 'READ_ONLY'
  /** The WAL, opener or scanner was closed by its owner. */
  | 'CLOSED'
  /** A MessageID could not be decoded, or ids of two different adapters were compared. */
  | 'INVALID_MESSAGE_ID'
  /** A name (adapter, interceptor, policy, message type) is not registered. */
  | 'NOT_REGISTERED'
  /** A name was registered twice. */
  | 'ALREADY_REGISTERED'
  /** A bounded store is full. */
  | 'CAPACITY_EXCEEDED'
  /** The caller's AbortSignal fired. */
  | 'ABORTED'
  /** The backend failed in a way that may pass (connection lost, timeout, injected fault). */
  | 'UNAVAILABLE'
  /** A bounded wait ran out. */
  | 'TIMEOUT'
  /** An append named a vchannel that was never created on its pchannel: create it first. */
  | 'VCHANNEL_NOT_FOUND'
  /** An append named a vchannel that was dropped; a dropped vchannel takes no more messages. */
  | 'VCHANNEL_DROPPED'
  /** A call over the wire lacked the credentials the service requires (token or client certificate). */
  | 'UNAUTHENTICATED'
  /** A node refused an append because its producer or the node is over its flow-control limit. */
  | 'RATE_LIMIT_REJECTED';

export type ErrorCode = MilvusErrorCode | WalstreamErrorCode;

/** Codes whose operation may succeed when repeated unchanged. Used as the default for `retriable`. */
const RETRIABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CHANNEL_NOT_EXIST',
  'ON_SHUTDOWN',
  'UNMATCHED_CHANNEL_TERM',
  'RESOURCE_ACQUIRED',
  'UNAVAILABLE',
  'TIMEOUT',
  'INNER',
  'RATE_LIMIT_REJECTED',
]);

export function isRetriableByDefault(code: ErrorCode): boolean {
  return RETRIABLE_BY_DEFAULT.has(code);
}
