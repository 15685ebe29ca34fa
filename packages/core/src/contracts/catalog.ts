import type { PChannelInfo } from '../channel/channel.js';

/** Where a pchannel stands in the coordinator's assignment protocol. */
export type PChannelAssignmentState = 'uninitialized' | 'assigning' | 'assigned' | 'unavailable';

export interface PChannelMeta {
  readonly channel: PChannelInfo;
  readonly state: PChannelAssignmentState;
  /** The node that owns (or is being given) the pchannel; undefined while unassigned. */
  readonly nodeId?: string;
  /** Previous owners, newest last, kept so a stale owner can be told to let go. */
  readonly history: readonly { readonly nodeId: string; readonly term: bigint }[];
}

/** Everything needed to finish a broadcast after a coordinator restart. */
export interface BroadcastTaskRecord {
  readonly broadcastId: bigint;
  readonly state: 'pending' | 'done' | 'tombstone';
  /** The broadcast message, as marshalled payload + properties. */
  readonly message: { readonly payload: Uint8Array; readonly properties: Readonly<Record<string, string>> };
  /** vchannels whose copy was acknowledged. */
  readonly acked: readonly string[];
}

/** (last-confirmed id, timetick) up to which a node's derived state for a pchannel is durable. */
export interface WalCheckpoint {
  /** Marshalled MessageID of the adapter named by `walName`. */
  readonly messageId: string;
  readonly walName: string;
  readonly timeTick: bigint;
  /**
   * The term of the WAL that wrote the record. A save never replaces a record of a higher term, so a
   * fenced writer that persists late cannot roll the new owner's checkpoint back.
   */
  readonly term?: bigint;
}

/**
 * The metadata store of the coordinator and the nodes. Writes are durable when they resolve; the
 * in-memory catalog serves the embedded mode, the etcd catalog a cluster.
 */
export interface Catalog {
  listPChannels(): Promise<PChannelMeta[]>;
  savePChannels(metas: readonly PChannelMeta[]): Promise<void>;

  listBroadcastTasks(): Promise<BroadcastTaskRecord[]>;
  saveBroadcastTask(task: BroadcastTaskRecord): Promise<void>;
  removeBroadcastTask(broadcastId: bigint): Promise<void>;

  getCheckpoint(pchannel: string): Promise<WalCheckpoint | undefined>;
  /**
   * Saves `checkpoint` unless the stored record carries a higher `term`; resolves false then, writing
   * nothing (a newer term owns the pchannel). The comparison and the write are one atomic step (a
   * compare-and-swap in a shared store): checking with `getCheckpoint` first would leave a window in
   * which a stale writer overwrites the new owner's record. A missing term counts as 0.
   */
  saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean>;

  /** The timestamp high-water mark of the TSO: every timetick ever handed out is at or below it. */
  getTimestampHighWater(): Promise<bigint>;
  saveTimestampHighWater(value: bigint): Promise<void>;
}
