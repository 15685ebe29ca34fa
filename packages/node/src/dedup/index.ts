export {
  checkProducerSequence,
  type IdempotenceOptions,
  type IdempotenceStats,
  IdempotentAppends,
  observeIdempotence,
  PRODUCER_ID_PROPERTY,
  PRODUCER_SEQUENCE_PROPERTY,
  type ResolvedIdempotence,
  resolveIdempotence,
} from './idempotent.js';
export { type Admission, type DedupBounds, DedupWindow, type ProducerSequence } from './window.js';
