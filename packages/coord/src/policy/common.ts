import type { CurrentLayout, PChannelStatus } from '@walstream/core';
import { walError } from '@walstream/core/internal';
import { compareNames, compareNodeIds } from './order.js';

/** The part of a layout every policy starts from, sorted so no result depends on input order. */
export interface Prepared {
  /** Schedulable node ids, sorted. */
  readonly nodes: readonly string[];
  /** Every pchannel, sorted by name. */
  readonly pchannels: readonly PChannelStatus[];
  /** pchannel name → its node, for pchannels whose node is schedulable. */
  readonly placed: ReadonlyMap<string, string>;
}

export function prepare(policy: string, layout: CurrentLayout): Prepared {
  const schedulable = new Set<string>();
  for (const node of layout.nodes) if (node.schedulable) schedulable.add(node.nodeId);
  const nodes = [...schedulable].sort(compareNodeIds);
  const pchannels = [...layout.pchannels].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 1; i < pchannels.length; i++) {
    if (pchannels[i - 1]?.name === pchannels[i]?.name) {
      throw walError('INVALID_ARGUMENT', `${policy}: pchannel ${pchannels[i]?.name} is listed twice`, {
        retriable: false,
      });
    }
  }
  if (nodes.length === 0 && pchannels.length > 0) {
    throw walError(
      'UNAVAILABLE',
      `${policy}: no schedulable node to assign ${pchannels.length} pchannels to`,
    );
  }
  const placed = new Map<string, string>();
  for (const p of pchannels) {
    if (p.nodeId !== undefined && schedulable.has(p.nodeId)) placed.set(p.name, p.nodeId);
  }
  return { nodes, pchannels, placed };
}

export function isMovable(p: PChannelStatus): boolean {
  return p.movable !== false;
}
