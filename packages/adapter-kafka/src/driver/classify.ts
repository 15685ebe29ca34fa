import type { FailureKind } from './types.js';

/** Kafka protocol error codes (org.apache.kafka.common.protocol.Errors) the adapter reacts to. */
const BY_CODE: ReadonlyMap<number, FailureKind> = new Map<number, FailureKind>([
  // UNKNOWN_SERVER_ERROR: the outcome is unknown. Seen when a newer InitProducerId races an EndTxn
  // (Kafka 4.x throws IllegalStateException mid epoch fence); the WAL re-checks the term first.
  [-1, 'unavailable'],
  [1, 'offsetOutOfRange'],
  [3, 'unavailable'], // UNKNOWN_TOPIC_OR_PARTITION: metadata not yet propagated
  [5, 'unavailable'], // LEADER_NOT_AVAILABLE
  [6, 'unavailable'], // NOT_LEADER_OR_FOLLOWER
  [7, 'unavailable'], // REQUEST_TIMED_OUT
  [8, 'unavailable'], // BROKER_NOT_AVAILABLE
  [10, 'tooLarge'], // MESSAGE_TOO_LARGE
  [13, 'unavailable'], // NETWORK_EXCEPTION
  [14, 'unavailable'], // COORDINATOR_LOAD_IN_PROGRESS
  [15, 'unavailable'], // COORDINATOR_NOT_AVAILABLE
  [16, 'unavailable'], // NOT_COORDINATOR
  [18, 'tooLarge'], // RECORD_LIST_TOO_LARGE
  [19, 'unavailable'], // NOT_ENOUGH_REPLICAS
  [20, 'unavailable'], // NOT_ENOUGH_REPLICAS_AFTER_APPEND
  [36, 'topicExists'],
  // The producer's epoch is no longer current: a newer InitProducerId for the same transactional id ran,
  // or the coordinator forgot the producer. The WAL re-checks the term before it believes either.
  [47, 'fenced'], // INVALID_PRODUCER_EPOCH
  [48, 'fenced'], // INVALID_TXN_STATE
  [49, 'fenced'], // INVALID_PRODUCER_ID_MAPPING
  [51, 'unavailable'], // CONCURRENT_TRANSACTIONS
  [56, 'unavailable'], // KAFKA_STORAGE_ERROR
  [74, 'unavailable'], // FENCED_LEADER_EPOCH
  [75, 'unavailable'], // UNKNOWN_LEADER_EPOCH
  [90, 'fenced'], // PRODUCER_FENCED
  [100, 'unavailable'], // UNKNOWN_TOPIC_ID
]);

const BY_NAME: ReadonlyMap<string, FailureKind> = new Map<string, FailureKind>([
  ['UNKNOWN_SERVER_ERROR', 'unavailable'],
  ['OFFSET_OUT_OF_RANGE', 'offsetOutOfRange'],
  ['MESSAGE_TOO_LARGE', 'tooLarge'],
  ['RECORD_LIST_TOO_LARGE', 'tooLarge'],
  ['TOPIC_ALREADY_EXISTS', 'topicExists'],
  ['INVALID_PRODUCER_EPOCH', 'fenced'],
  ['PRODUCER_FENCED', 'fenced'],
  ['INVALID_PRODUCER_ID_MAPPING', 'fenced'],
  ['INVALID_TXN_STATE', 'fenced'],
]);

/** Precedence when several errors are chained: the most specific reaction wins. */
const RANK: Record<FailureKind, number> = {
  fenced: 5,
  tooLarge: 4,
  offsetOutOfRange: 3,
  topicExists: 2,
  unavailable: 1,
  other: 0,
};

/** Walks `cause`, `originalError` and `errors` (AggregateError) links, guarding against cycles. */
export function errorChain(error: unknown): object[] {
  const seen = new Set<object>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const next = queue.shift();
    if (typeof next !== 'object' || next === null || seen.has(next)) continue;
    seen.add(next);
    const links = next as { cause?: unknown; originalError?: unknown; errors?: unknown };
    queue.push(links.cause, links.originalError);
    if (Array.isArray(links.errors)) queue.push(...links.errors);
  }
  return [...seen];
}

/**
 * Classifies by protocol codes and names found anywhere in the chain, then by `networkish` (the driver's
 * own connection and timeout error types).
 */
export function classifyChain(error: unknown, networkish: (link: object) => boolean): FailureKind {
  let best: FailureKind = 'other';
  const consider = (kind: FailureKind | undefined) => {
    if (kind && RANK[kind] > RANK[best]) best = kind;
  };
  for (const link of errorChain(error)) {
    const fields = link as { code?: unknown; apiCode?: unknown; type?: unknown; apiId?: unknown };
    for (const code of [fields.apiCode, fields.code])
      if (typeof code === 'number') consider(BY_CODE.get(code));
    for (const name of [fields.apiId, fields.type]) if (typeof name === 'string') consider(BY_NAME.get(name));
    if (networkish(link)) consider('unavailable');
    const nodeCode = (link as { code?: unknown }).code;
    if (
      typeof nodeCode === 'string' &&
      /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND)$/.test(nodeCode)
    ) {
      consider('unavailable');
    }
  }
  return best;
}
