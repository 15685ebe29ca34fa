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
  /**
   * The collection of each vchannel on the pchannel, one entry per vchannel, for policies that keep a
   * collection's shards apart. Absent: every vchannel counts as a collection of its own.
   */
  readonly collections?: readonly string[];
  /** Recent append throughput, for policies that balance load rather than counts. */
  readonly appendBytesPerSecond?: number;
  /**
   * False while the pchannel may not move for balance (it moved too recently, or rebalancing is
   * suspended): a policy leaves it on its node while that node is schedulable. Default true.
   */
  readonly movable?: boolean;
}

export interface CurrentLayout {
  readonly nodes: readonly NodeStatus[];
  readonly pchannels: readonly PChannelStatus[];
}

/** pchannel name → node id. */
export type ExpectedLayout = ReadonlyMap<string, string>;

/**
 * What "balanced" means for a policy, in its own terms: a cost of an assignment, and how much of it a
 * single move must save to be worth making. The policy conformance suite checks that once the policy
 * stops moving channels, no single move of a movable pchannel to another schedulable node lowers the
 * cost by more than `tolerance`.
 */
export interface BalanceBound {
  /** The cost of assigning the pchannels of `layout` as `assignment` says; lower is better. */
  cost(layout: CurrentLayout, assignment: ExpectedLayout): number;
  readonly tolerance: number;
}

/**
 * A pure function from the current layout to the layout the balancer should move towards. It must be
 * deterministic: iterate sorted, break ties by name, never by map order. Every pchannel of the input gets
 * a schedulable node in the output; with no schedulable node the policy throws UNAVAILABLE rather than
 * return a partial layout. Register it by name.
 */
export interface BalancePolicy {
  readonly name: string;
  balance(layout: CurrentLayout): ExpectedLayout;
  /** The balance the policy promises; without it the conformance suite skips the bound check. */
  readonly bound?: BalanceBound;
}
