import type { AppendResult, MutableMessage, PChannelInfo, WalError } from '@walstream/core';

/** One WAL's lifetime on a node, as `CollectStatus` reports it (`WalLifetimeState` on the wire). */
export type WalLifetime = 'recovering' | 'ready' | 'closing' | 'closed' | 'failed';

export interface NodeWalStatus {
  readonly pchannel: PChannelInfo;
  readonly state: WalLifetime;
  /** Why the open failed, when `state` is `failed`. */
  readonly error?: WalError;
}

export interface NodeStatusReport {
  readonly nodeId: string;
  readonly wals: readonly NodeWalStatus[];
}

/**
 * What the coordinator calls on a node: the shape of `NodeManagerService` in
 * `packages/rpc/proto/walstream/v1/node.proto`, in process or over the wire.
 */
export interface NodeManagerClient {
  /**
   * Opens the pchannel's WAL at `pchannel.term`, fencing every lower term. Resolves once the node took
   * the request; opening and recovery go on, and `collectStatus` shows how they went.
   */
  assign(pchannel: PChannelInfo, signal?: AbortSignal): Promise<void>;
  /**
   * Closes the pchannel's WAL at `pchannel.term` gracefully. IGNORED_OPERATION or
   * UNMATCHED_CHANNEL_TERM: the node holds no WAL of that term (nothing to release).
   */
  remove(pchannel: PChannelInfo, signal?: AbortSignal): Promise<void>;
  collectStatus(signal?: AbortSignal): Promise<NodeStatusReport>;
  /**
   * Appends on the node's WAL of `pchannel` at exactly `pchannel.term` (the coordinator's broadcast
   * copies). Optional: a node client without it cannot take broadcasts.
   */
  append?(pchannel: PChannelInfo, message: MutableMessage, signal?: AbortSignal): Promise<AppendResult>;
}

/** A live node as the coordinator knows it from its session. */
export interface NodeSession {
  readonly nodeId: string;
  /** Where clients reach it; in-process nodes have none. */
  readonly address?: string;
  /** The node announced a graceful stop: its channels move away, none come to it. */
  readonly stopping: boolean;
  readonly client: NodeManagerClient;
}
