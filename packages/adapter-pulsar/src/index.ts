/**
 * @walstream/adapter-pulsar — the `pulsar` walimpls on a pure-TypeScript client of Pulsar's binary
 * protocol: one topic per pchannel, term fencing through exclusive producers and the topic epoch.
 */

// The adapter: a `WalImplsBuilder` named `pulsar` to hand to `createWal().adapter(...)`.
export { type PulsarAdapter, pulsarAdapter } from './adapter.js';
// MessageIDs: (ledger, entry, partition, batch index), marshalled as Milvus does.
export { asPulsarMessageId, PULSAR_WAL_NAME, PulsarMessageId } from './message-id.js';
// Its options, nested ones included.
export type { PulsarAdapterOptions, PulsarBackoffOptions, PulsarConnectionOptions } from './options.js';
