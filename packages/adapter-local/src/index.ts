/**
 * @walstream/adapter-local — the embedded durable adapter: one directory of segment files per pchannel,
 * records with a length and a CRC-32C each, group commit with a durability setting, crash recovery that
 * cuts a torn tail and refuses to cut good records, fencing by a term kept on disk, and a lock file that
 * keeps a second process out. The default store of `walstream up`.
 */

// The adapter: a `WalImplsBuilder` named `local` to hand to `createWal().adapter(...)`.
export { type LocalAdapter, type LocalChannelStats, localAdapter } from './adapter.js';
// The checksum of every record and header, for tools that read the files.
export { crc32c } from './format/crc32c.js';
// MessageIDs: the record's offset in its pchannel (the codec is registered with core at import).
export { asLocalMessageId, LOCAL_WAL_NAME, LocalMessageId } from './message-id.js';
// Its options: the directory, the durability setting and the segment, index and batch sizes.
export type {
  Durability,
  LocalAdapterOptions,
  ResolvedOptions as ResolvedLocalAdapterOptions,
} from './options.js';
// What opening a pchannel found on disk and repaired (in `stats(pchannel).recovery`).
export type { RecoveryReport } from './store/channel-log.js';
