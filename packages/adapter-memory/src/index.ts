/**
 * @walstream/adapter-memory — the in-memory reference adapter: logs kept in process memory, fencing by
 * term, physical truncation, capacity limits and runtime fault injection.
 */

// The adapter: a `WalImplsBuilder` named `memory` to hand to `createWal().adapter(...)`.
export { type MemoryAdapter, type MemoryAdapterOptions, memoryAdapter } from './adapter.js';
export type { ChannelStats } from './channel-log.js';
// Fault injection, per pchannel and at runtime: `store.faults(pchannel).set({ appendErrorRate: 0.2 })`.
export type { ActiveFaults, ChannelFaults, FaultConfig } from './faults.js';
// MessageIDs: the entry's offset in its pchannel (the codec is registered with core at import).
export { asMemoryMessageId, MEMORY_WAL_NAME, MemoryMessageId } from './message-id.js';
// The store behind it: where the data lives (share one to share logs), its limits and statistics.
export { MemoryLogStore, type MemoryLogStoreOptions } from './store.js';
