/**
 * @walstream/coord — the StreamingCoord: decides which node owns each pchannel, moves channels when
 * nodes come and go, hands out timeticks, and broadcasts a message to many vchannels.
 */

// Balancer: plans with the policy, moves each pchannel on its own.
export {
  type BackoffSettings,
  Balancer,
  type BalancerOptions,
  type Layout,
  type MoveEvent,
  type MoveReason,
  type NodeView,
} from './balancer/balancer.js';
export { etcdNodeMarks, type NodeMarkStore, type NodeMarks } from './balancer/marks.js';
// Broadcaster: one message to many vchannels, under resource-key locks, with bounded callbacks.
export {
  type AckCallback,
  type AckContext,
  type BroadcastAppend,
  type BroadcastAppender,
  Broadcaster,
  type BroadcasterOptions,
  type BroadcastResult,
  type BroadcastTaskStatus,
  type CheckCallback,
} from './broadcast/broadcaster.js';
export { describeKey, type LockGuard, normalizeKeys, ResourceKeyLocks } from './broadcast/locks.js';
// Channel manager: pchannel metas, saved before acted on.
export {
  ChannelManager,
  type ChannelManagerOptions,
  compareVersions,
  type LayoutVersion,
  type MetaSnapshot,
  UNASSIGNED_TERM,
} from './channel/channel-manager.js';
// The coordinator in one call (the embedded mode).
export { type Coordinator, type CoordinatorOptions, startCoordinator } from './coordinator.js';
// Coordinator election: one active coordinator at a time, by a key under a lease in etcd.
export { type CampaignOptions, campaign, type Leadership } from './election/etcd-election.js';
// Nodes: the calls the coordinator makes on a node, and in-process nodes for the embedded mode.
export { InProcessNode } from './nodes/in-process-node.js';
export {
  type InProcessSessionHandle,
  InProcessSessions,
  type SessionDirectory,
} from './nodes/in-process-sessions.js';
export type {
  NodeManagerClient,
  NodeSession,
  NodeStatusReport,
  NodeWalStatus,
  WalLifetime,
} from './nodes/node-client.js';
export { RpcNodeManagerClient } from './nodes/rpc-node-client.js';
// Balance policies: pure functions from the current layout to the expected one, registered by name.
export { PCHANNEL_COUNT, pchannelCountPolicy } from './policy/pchannel-count.js';
export { PolicyRegistry } from './policy/registry.js';
export { VCHANNEL_FAIR, type VChannelFairOptions, vchannelFairPolicy } from './policy/vchannel-fair.js';
// The coordinator as a process on etcd: campaigns, and while active runs and serves the coordinator.
export {
  type ActiveCoordinator,
  type CoordinatorRole,
  type RunCoordinatorOptions,
  type RunningCoordinator,
  runCoordinator,
} from './service/run.js';
// The coordinator's gRPC services: assignment discovery, broadcast, TSO.
export { type ServeCoordinatorOptions, serveCoordinator } from './service/serve.js';
// Node sessions in etcd: a key under a lease per node, ids never reused, and the coordinator's watch.
export {
  DEFAULT_SESSION_TTL_SECONDS,
  EtcdNodeSession,
  type EtcdNodeSessionOptions,
  EtcdSessionDirectory,
  type EtcdSessionDirectoryOptions,
} from './sessions/etcd-sessions.js';
// A node registered in etcd around its server: id from the counter, session with its address, graceful stop.
export {
  type NodeRegistration,
  type RegisteredServer,
  type RegisterNodeOptions,
  registerNode,
} from './sessions/node-registration.js';
// The TSO from a node's process: batches from the active coordinator, found through etcd.
export { CoordinatorTso, type CoordinatorTsoOptions } from './tso/coordinator-tso.js';
// TSO: hybrid timeticks that rise across restarts, from a high-water mark saved ahead of use.
export { MAX_BATCH, type TimeTickBatch, Tso, type TsoOptions } from './tso/tso.js';
