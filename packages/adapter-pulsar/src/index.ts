export { type PulsarAdapter, type PulsarAdapterOptions, pulsarAdapter } from './adapter.js';
export {
  asPulsarMessageId,
  PULSAR_WAL_NAME,
  PulsarMessageId,
  registerPulsarMessageIdCodec,
} from './message-id.js';
export * as protocol from './protocol/index.js';
export type { PulsarWal } from './wal.js';
