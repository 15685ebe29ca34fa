import type { CurrentLayout, ExpectedLayout, NodeStatus, PChannelStatus } from '@walstream/core';
import fc from 'fast-check';

/** Knobs of the generated layouts. */
export interface LayoutShape {
  readonly maxNodes: number;
  readonly maxPChannels: number;
}

const COLLECTIONS = ['c1', 'c2', 'c3', 'c4'] as const;

function pchannelStatus(name: string, nodeIds: readonly string[]): fc.Arbitrary<PChannelStatus> {
  return fc
    .record({
      // Most pchannels sit on a listed node; some on none, some on a node that is gone.
      owner: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...nodeIds) },
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constant('gone') },
      ),
      term: fc.bigInt({ min: 1n, max: 50n }),
      collections: fc.array(fc.constantFrom(...COLLECTIONS), { maxLength: 6 }),
      named: fc.boolean(),
      movable: fc.oneof(
        { weight: 5, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.boolean() },
      ),
    })
    .map(({ owner, term, collections, named, movable }) => ({
      name,
      term,
      vchannelCount: collections.length,
      ...(owner === undefined ? {} : { nodeId: owner }),
      ...(named ? { collections } : {}),
      ...(movable === undefined ? {} : { movable }),
    }));
}

/**
 * Layouts with at least one schedulable node: decimal and non-decimal node ids, unschedulable nodes,
 * pchannels unassigned, on an unschedulable node, on a node that is gone, pinned, with and without
 * collections.
 */
export function layoutArbitrary(shape: LayoutShape): fc.Arbitrary<CurrentLayout> {
  return fc
    .uniqueArray(fc.oneof(fc.integer({ min: 1, max: 30 }).map(String), fc.constantFrom('a', 'b', 'node-x')), {
      minLength: 1,
      maxLength: shape.maxNodes,
    })
    .chain((ids) =>
      fc.record({
        nodes: fc
          .array(
            fc.oneof(
              { weight: 4, arbitrary: fc.constant(true) },
              { weight: 1, arbitrary: fc.constant(false) },
            ),
            {
              minLength: ids.length,
              maxLength: ids.length,
            },
          )
          .map((flags): NodeStatus[] => {
            // At least one node stays schedulable: the no-node failure has its own case.
            const all = flags.every((f) => !f) ? [true, ...flags.slice(1)] : flags;
            return ids.map((nodeId, i) => ({ nodeId, schedulable: all[i] as boolean }));
          }),
        pchannels: fc
          .integer({ min: 0, max: shape.maxPChannels })
          .chain((count) =>
            fc.tuple(...Array.from({ length: count }, (_, i) => pchannelStatus(`pch-${i}`, ids))),
          ),
      }),
    );
}

/** 64 pchannels balanced over four nodes, and a fifth node that just joined. */
export function joinedNodeLayout(): CurrentLayout {
  const nodes = ['1', '2', '3', '4'];
  return {
    nodes: [...nodes, '5'].map((nodeId) => ({ nodeId, schedulable: true })),
    pchannels: Array.from({ length: 64 }, (_, i) => ({
      name: `pch-${String(i).padStart(2, '0')}`,
      term: 1n,
      nodeId: nodes[i % 4] as string,
      vchannelCount: 1 + (i % 3),
    })),
  };
}

/** The layout after the balancer carried out `expected`. */
export function apply(layout: CurrentLayout, expected: ExpectedLayout): CurrentLayout {
  return {
    nodes: layout.nodes,
    pchannels: layout.pchannels.map((p) => {
      const nodeId = expected.get(p.name);
      return nodeId === undefined || nodeId === p.nodeId ? p : { ...p, nodeId, term: p.term + 1n };
    }),
  };
}

/** The same layout with nodes and pchannels in another order (seeded, so a failure replays). */
export function shuffled(layout: CurrentLayout, seed: number): CurrentLayout {
  const order = <T>(items: readonly T[]): T[] => {
    const copy = [...items];
    let s = seed >>> 0 || 1;
    for (let i = copy.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const j = s % (i + 1);
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy;
  };
  return { nodes: order(layout.nodes), pchannels: order(layout.pchannels) };
}

export function deepFreeze(layout: CurrentLayout): CurrentLayout {
  for (const n of layout.nodes) Object.freeze(n);
  for (const p of layout.pchannels) {
    if (p.collections) Object.freeze(p.collections);
    Object.freeze(p);
  }
  Object.freeze(layout.nodes);
  Object.freeze(layout.pchannels);
  return Object.freeze(layout);
}

export function describeLayout(layout: CurrentLayout): string {
  const nodes = layout.nodes.map((n) => `${n.nodeId}${n.schedulable ? '' : '(unschedulable)'}`).join(' ');
  const pchannels = layout.pchannels
    .map(
      (p) =>
        `${p.name}@${p.nodeId ?? '-'}/v${p.vchannelCount}${p.collections ? `[${p.collections.join(',')}]` : ''}${p.movable === false ? '(pinned)' : ''}`,
    )
    .join(' ');
  return `nodes: ${nodes}; pchannels: ${pchannels || 'none'}`;
}

export function describeExpected(expected: ExpectedLayout): string {
  return (
    [...expected]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([p, n]) => `${p}→${n}`)
      .join(' ') || 'empty'
  );
}
