export { type MemoryAdapter, type MemoryAdapterOptions, memoryAdapter } from './adapter.js';
export type { ChannelStats } from './channel-log.js';
export type { ActiveFaults, ChannelFaults, FaultConfig } from './faults.js';
export {
  asMemoryMessageId,
  MEMORY_WAL_NAME,
  MemoryMessageId,
  registerMemoryMessageIdCodec,
} from './message-id.js';
export { DEFAULT_SEED, MemoryLogStore, type MemoryLogStoreOptions } from './store.js';
export type { MemoryWal } from './wal.js';
