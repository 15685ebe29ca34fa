/** One streaming node as a balance policy sees it. */
export interface NodeStatus {
  readonly nodeId: string;
  /** False while the node drains or is frozen: policies move channels away and assign none to it. */
  readonly schedulable: boolean;
}

export interface PChannelStatus {
  readonly name: string;
  readonly term: bigint;
  /** Current owner; undefined when unassigned. */
  readonly nodeId?: string;
  readonly vchannelCount: number;
  /** Recent append throughput, for policies that balance load rather than counts. */
  readonly appendBytesPerSecond?: number;
}

export interface CurrentLayout {
  readonly nodes: readonly NodeStatus[];
  readonly pchannels: readonly PChannelStatus[];
}

/** pchannel name → node id. */
export type ExpectedLayout = ReadonlyMap<string, string>;

/**
 * A pure function from the current layout to the layout the balancer should move towards. It must be
 * deterministic: iterate sorted, break ties by name, never by map order. Register it by name.
 */
export interface BalancePolicy {
  readonly name: string;
  balance(layout: CurrentLayout): ExpectedLayout;
}
