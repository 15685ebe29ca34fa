export type {
  BalancePolicy,
  CurrentLayout,
  ExpectedLayout,
  NodeStatus,
  PChannelStatus,
} from './balance-policy.js';
export type {
  BroadcastTaskRecord,
  Catalog,
  PChannelAssignmentState,
  PChannelMeta,
  WalCheckpoint,
} from './catalog.js';
export { MemoryCatalog } from './memory-catalog.js';
