import type { BalancePolicy, CurrentLayout, ExpectedLayout, PChannelStatus } from '@walstream/core';
import { checkKnownKeys, integerOption, numberOption } from '@walstream/core/internal';
import { isMovable, prepare } from './common.js';

export const VCHANNEL_FAIR = 'vchannelFair';

export interface VChannelFairOptions {
  /** Weight of the pchannel-count term. Default 0.4. */
  readonly pchannelWeight?: number;
  /** Weight of the vchannel-count term. Default 0.3. */
  readonly vchannelWeight?: number;
  /** Weight of the term that keeps vchannels of one collection on different nodes. Default 0.01. */
  readonly antiAffinityWeight?: number;
  /** How much a rebalance must lower the score to be made. Default 0.01. */
  readonly rebalanceTolerance?: number;
  /** Pchannels one round may move for balance (placing unplaced ones aside). Default 3. */
  readonly rebalanceMaxStep?: number;
  /** False: place unplaced pchannels, never move placed ones. Default true. */
  readonly allowRebalance?: boolean;
}

interface Weights {
  readonly p: number;
  readonly v: number;
  readonly a: number;
}

/**
 * 1 − affinity of two pchannels (Milvus's definition): over the collections of the vchannels of both,
 * (distinct − repeated) / distinct, where repeated counts every vchannel of a collection seen more than
 * once; 1 when neither has a vchannel. The penalty grows as the pair shares collections (it can exceed 1).
 */
function pairPenalty(a: PChannelStatus, b: PChannelStatus): number {
  const counts = new Map<string, number>();
  let anonymous = 0;
  for (const p of [a, b]) {
    if (p.collections === undefined) {
      anonymous += p.vchannelCount;
      continue;
    }
    for (const c of p.collections) counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  const distinct = counts.size + anonymous;
  if (distinct === 0) return 0;
  let repeated = 0;
  for (const n of counts.values()) if (n > 1) repeated += n;
  return 1 - (distinct - repeated) / distinct;
}

/** The score of one round's assignment, kept per node and updated as pchannels come and go. */
class Scoreboard {
  readonly #w: Weights;
  readonly #avgP: number;
  readonly #avgV: number;
  readonly #penalty: (a: number, b: number) => number;
  readonly #vcount: readonly number[];
  /** node index → pchannel indexes on it */
  readonly members: Set<number>[];
  readonly #v: number[];
  readonly #pairs: number[];
  readonly #cost: number[];
  /** pchannel index → node index, or −1 */
  readonly at: number[];
  score = 0;

  constructor(
    w: Weights,
    nodes: number,
    pchannels: readonly PChannelStatus[],
    penalty: (a: number, b: number) => number,
  ) {
    this.#w = w;
    this.#avgP = pchannels.length / nodes;
    this.#avgV = pchannels.reduce((sum, p) => sum + p.vchannelCount, 0) / nodes;
    this.#penalty = penalty;
    this.#vcount = pchannels.map((p) => p.vchannelCount);
    this.members = Array.from({ length: nodes }, () => new Set<number>());
    this.#v = new Array<number>(nodes).fill(0);
    this.#pairs = new Array<number>(nodes).fill(0);
    this.#cost = new Array<number>(nodes).fill(0);
    this.at = new Array<number>(pchannels.length).fill(-1);
    for (let n = 0; n < nodes; n++) this.#cost[n] = this.#nodeCost(0, 0, 0);
    this.score = this.#cost.reduce((s, c) => s + c, 0);
  }

  #nodeCost(p: number, v: number, pairs: number): number {
    let cost = this.#w.a * pairs;
    if (this.#avgP > 0) cost += this.#w.p * ((p - this.#avgP) / this.#avgP) ** 2;
    if (this.#avgV > 0) cost += this.#w.v * ((v - this.#avgV) / this.#avgV) ** 2;
    return cost;
  }

  #pairsWith(c: number, node: number): number {
    let sum = 0;
    for (const m of this.members[node] as Set<number>) if (m !== c) sum += this.#penalty(c, m);
    return sum;
  }

  /** The score if `c` were added to (`sign` 1) or taken from (−1) `node`, without changing anything. */
  delta(c: number, node: number, sign: 1 | -1): number {
    const members = this.members[node] as Set<number>;
    const p = members.size + sign;
    const v = (this.#v[node] as number) + sign * (this.#vcount[c] as number);
    const pairs = (this.#pairs[node] as number) + sign * this.#pairsWith(c, node);
    return this.#nodeCost(p, v, pairs) - (this.#cost[node] as number);
  }

  assign(c: number, node: number): void {
    const d = this.delta(c, node, 1);
    this.#pairs[node] = (this.#pairs[node] as number) + this.#pairsWith(c, node);
    (this.members[node] as Set<number>).add(c);
    this.#v[node] = (this.#v[node] as number) + (this.#vcount[c] as number);
    this.#cost[node] = (this.#cost[node] as number) + d;
    this.at[c] = node;
    this.score += d;
  }

  unassign(c: number): void {
    const node = this.at[c] as number;
    const d = this.delta(c, node, -1);
    (this.members[node] as Set<number>).delete(c);
    this.#pairs[node] = (this.#pairs[node] as number) - this.#pairsWith(c, node);
    this.#v[node] = (this.#v[node] as number) - (this.#vcount[c] as number);
    this.#cost[node] = (this.#cost[node] as number) + d;
    this.at[c] = -1;
    this.score += d;
  }
}

/**
 * Milvus's vchannelFair: a score that sums, per node, wP·((p − p̄)/p̄)² + wV·((v − v̄)/v̄)² + wA·Σ(1 −
 * affinity) over the pchannel pairs on the node (p, v: pchannels and vchannels on it). Placed pchannels
 * stay; unplaced ones go, most vchannels first, to the node that gives the lowest score. Then up to
 * `rebalanceMaxStep` movable pchannels are taken off (each time the one whose removal lowers the score
 * most) and every placement of them is tried; the best is kept if it beats the starting score by more
 * than the tolerance. Unlike Milvus every loop runs in sorted order (ties go to the first pchannel by name
 * and the first node by id), and when the removal heuristic finds nothing the best single move is tried
 * too, so a layout the policy keeps is one no single move improves by more than the tolerance.
 */
export function vchannelFairPolicy(options: VChannelFairOptions = {}): BalancePolicy {
  const where = 'vchannelFairPolicy';
  checkKnownKeys(where, options, [
    'pchannelWeight',
    'vchannelWeight',
    'antiAffinityWeight',
    'rebalanceTolerance',
    'rebalanceMaxStep',
    'allowRebalance',
  ]);
  const w: Weights = {
    p: numberOption(where, 'pchannelWeight', options.pchannelWeight, 0.4),
    v: numberOption(where, 'vchannelWeight', options.vchannelWeight, 0.3),
    a: numberOption(where, 'antiAffinityWeight', options.antiAffinityWeight, 0.01),
  };
  const tolerance = numberOption(where, 'rebalanceTolerance', options.rebalanceTolerance, 0.01);
  const maxStep = integerOption(where, 'rebalanceMaxStep', options.rebalanceMaxStep, 3, { min: 0, max: 6 });
  const allowRebalance = options.allowRebalance ?? true;

  const build = (layout: CurrentLayout, assignment?: ExpectedLayout) => {
    const prepared = prepare(VCHANNEL_FAIR, layout);
    const { nodes, pchannels } = prepared;
    const penalties = new Map<number, number>();
    const penalty = (a: number, b: number): number => {
      const key = a < b ? a * pchannels.length + b : b * pchannels.length + a;
      let value = penalties.get(key);
      if (value === undefined) {
        value = pairPenalty(pchannels[a] as PChannelStatus, pchannels[b] as PChannelStatus);
        penalties.set(key, value);
      }
      return value;
    };
    const board = new Scoreboard(w, Math.max(nodes.length, 1), pchannels, penalty);
    const nodeIndex = new Map(nodes.map((id, i) => [id, i]));
    if (assignment) {
      pchannels.forEach((p, c) => {
        const n = nodeIndex.get(assignment.get(p.name) ?? '');
        if (n !== undefined) board.assign(c, n);
      });
    }
    return { ...prepared, board, nodeIndex };
  };

  return {
    name: VCHANNEL_FAIR,
    bound: {
      cost: (layout, assignment) => build(layout, assignment).board.score,
      tolerance,
    },
    balance(layout) {
      const { nodes, pchannels, placed, board, nodeIndex } = build(layout);
      const result = (): Map<string, string> =>
        new Map(pchannels.map((p, c) => [p.name, nodes[board.at[c] as number] as string]));
      if (pchannels.length === 0) return new Map();

      const unplaced: number[] = [];
      pchannels.forEach((p, c) => {
        const n = nodeIndex.get(placed.get(p.name) ?? '');
        if (n === undefined) unplaced.push(c);
        else board.assign(c, n);
      });
      unplaced.sort(
        (a, b) =>
          (pchannels[b] as PChannelStatus).vchannelCount - (pchannels[a] as PChannelStatus).vchannelCount ||
          a - b,
      );
      for (const c of unplaced) board.assign(c, bestNode(board, c, nodes.length));
      if (!allowRebalance) return result();

      const start = board.score;
      const snapshot = [...board.at];
      const movable = pchannels.map((p, c) => isMovable(p) || unplaced.includes(c));
      const removed: number[] = [];
      for (let step = 0; step < maxStep; step++) {
        let pick = -1;
        let pickScore = Number.POSITIVE_INFINITY;
        for (let c = 0; c < pchannels.length; c++) {
          if (!movable[c] || board.at[c] === -1) continue;
          const s = board.score + board.delta(c, board.at[c] as number, -1);
          if (s < pickScore) {
            pick = c;
            pickScore = s;
          }
        }
        if (pick === -1) break;
        board.unassign(pick);
        removed.push(pick);
      }
      let best: { score: number; at: number[] } | undefined;
      const search = (i: number): void => {
        if (i === removed.length) {
          if (best === undefined || board.score < best.score)
            best = { score: board.score, at: [...board.at] };
          return;
        }
        const c = removed[i] as number;
        for (let n = 0; n < nodes.length; n++) {
          board.assign(c, n);
          search(i + 1);
          board.unassign(c);
        }
      };
      search(0);
      const restore = (at: readonly number[]): void => {
        for (const c of removed) if (board.at[c] !== -1) board.unassign(c);
        for (let c = 0; c < at.length; c++)
          if (board.at[c] !== at[c]) {
            if (board.at[c] !== -1) board.unassign(c);
            board.assign(c, at[c] as number);
          }
      };
      if (best !== undefined && best.score < start - tolerance) {
        restore(best.at);
        return result();
      }
      restore(snapshot);
      // The removal heuristic can miss a move that helps; the best single move is the fallback.
      let move: { c: number; n: number; gain: number } | undefined;
      for (let c = 0; c < pchannels.length; c++) {
        if (!movable[c]) continue;
        const from = board.at[c] as number;
        const out = board.delta(c, from, -1);
        board.unassign(c);
        for (let n = 0; n < nodes.length; n++) {
          if (n === from) continue;
          const gain = -(out + board.delta(c, n, 1));
          if (move === undefined || gain > move.gain) move = { c, n, gain };
        }
        board.assign(c, from);
      }
      if (move !== undefined && move.gain > tolerance) {
        board.unassign(move.c);
        board.assign(move.c, move.n);
      }
      return result();
    },
  };
}

function bestNode(board: Scoreboard, c: number, nodes: number): number {
  let best = 0;
  let bestDelta = Number.POSITIVE_INFINITY;
  for (let n = 0; n < nodes; n++) {
    const d = board.delta(c, n, 1);
    if (d < bestDelta) {
      best = n;
      bestDelta = d;
    }
  }
  return best;
}
