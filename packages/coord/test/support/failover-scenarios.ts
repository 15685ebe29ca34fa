import { performance } from 'node:perf_hooks';
import type { PChannelMeta } from '@walstream/core';
import type { NodeProcess, ProcessCluster } from './process-cluster.js';

export interface NodeKillResult {
  readonly victim: string;
  /** The victim's pchannels: the term before, the term of the first acknowledged append after. */
  readonly pchannels: readonly { name: string; termBefore: bigint; termAfter: bigint; ackMs: number }[];
  /** From the SIGKILL to etcd ending the victim's session (as this process's watch saw it). */
  readonly sessionGoneMs: number;
  /** From the SIGKILL to the first acknowledged append on a new owner, over the victim's pchannels. */
  readonly firstAckMs: number;
  /** ... and to the last of them. */
  readonly lastAckMs: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SIGKILLs `victim` and measures, for each pchannel it owned, the time until an append is acknowledged
 * by the owner the catalog names next (a client that follows the catalog and retries every 10 ms).
 */
export async function killNode(
  cluster: ProcessCluster,
  victim: NodeProcess,
  seq: number,
  timeoutMs = 30_000,
): Promise<NodeKillResult> {
  const owned = (await cluster.metas()).filter((m) => m.nodeId === victim.nodeId);
  const start = performance.now();
  const killed = victim.child.kill();
  cluster.nodes.splice(cluster.nodes.indexOf(victim), 1);
  const sessionGone = (async () => {
    while (cluster.directory.sessions.some((s) => s.nodeId === victim.nodeId)) {
      if (performance.now() - start > timeoutMs) throw new Error(`node ${victim.nodeId}'s session stayed`);
      await pause(5);
    }
    return performance.now() - start;
  })();
  const acks = await Promise.all(
    owned.map(async (before) => {
      for (;;) {
        if (performance.now() - start > timeoutMs) {
          throw new Error(`${before.channel.name} took no append within ${timeoutMs} ms of the kill`);
        }
        let meta: PChannelMeta | undefined;
        try {
          meta = (await cluster.metas()).find((m) => m.channel.name === before.channel.name);
        } catch {
          meta = undefined;
        }
        if (meta && meta.state === 'assigned' && meta.nodeId !== victim.nodeId) {
          try {
            await cluster.append(meta, cluster.note(meta.channel.name, seq));
            return {
              name: before.channel.name,
              termBefore: before.channel.term,
              termAfter: meta.channel.term,
              ackMs: performance.now() - start,
            };
          } catch {
            // Not ready yet on the new owner (or the session not seen yet here): try again.
          }
        }
        await pause(10);
      }
    }),
  );
  await killed;
  const ackTimes = acks.map((a) => a.ackMs);
  return {
    victim: victim.nodeId,
    pchannels: acks,
    sessionGoneMs: await sessionGone,
    firstAckMs: Math.min(...ackTimes),
    lastAckMs: Math.max(...ackTimes),
  };
}

export interface DrainResult {
  readonly nodeId: string;
  readonly pchannels: number;
  readonly totalMs: number;
  /** Each move from `started` to `done`, as the coordinator reported it. */
  readonly perMoveMs: readonly number[];
  /**
   * Where each move's time went, from the node processes' WAL lifetime steps: the old owner's close
   * (closing → closed), the new owner's start of the open after the move started (→ recovering), and
   * its open (recovering → ready). NaN where a step was not seen.
   */
  readonly steps: readonly { closeMs: number; assignedAfterMs: number; openMs: number }[];
}

/** Drains `nodeId` through the active coordinator process and times each of its moves. */
export async function drainNode(
  cluster: ProcessCluster,
  coordinatorIndex: number,
  nodeId: string,
): Promise<DrainResult> {
  const coordinator = cluster.coordinators[coordinatorIndex];
  if (!coordinator) throw new Error(`no coordinator ${coordinatorIndex}`);
  const held = (await cluster.metas()).filter((m) => m.nodeId === nodeId).map((m) => m.channel.name);
  const from = coordinator.lines.length;
  const nodeMarks = cluster.nodes.map((n) => n.child.lines.length);
  coordinator.send({ cmd: 'drain', nodeId });
  const done = await coordinator.waitLine((l) => l.drained === nodeId || 'error' in l, 'drain', 60_000, from);
  if (done.error) throw new Error(`drain failed: ${String(done.error)}`);
  const moves = coordinator.lines
    .slice(from)
    .flatMap((l) =>
      l.move ? [l.move as { outcome: string; pchannel: string; at: number; reason: string }] : [],
    )
    .filter((m) => held.includes(m.pchannel) && m.reason === 'drain');
  const perMoveMs = held.map((name) => {
    const started = moves.find((m) => m.pchannel === name && m.outcome === 'started');
    const finished = moves.find((m) => m.pchannel === name && m.outcome === 'done');
    return started && finished ? finished.at - started.at : Number.NaN;
  });
  type WalStep = { pchannel: string; state: string; at: number; nodeId: string };
  const walSteps: WalStep[] = cluster.nodes.flatMap((n, i) =>
    n.child.lines
      .slice(nodeMarks[i])
      .flatMap((l) => (l.wal ? [{ ...(l.wal as Omit<WalStep, 'nodeId'>), nodeId: n.nodeId }] : [])),
  );
  const at = (name: string, state: string, onDrained: boolean): number =>
    walSteps.find((w) => w.pchannel === name && w.state === state && (w.nodeId === nodeId) === onDrained)
      ?.at ?? Number.NaN;
  const steps = held.map((name) => {
    const started = moves.find((m) => m.pchannel === name && m.outcome === 'started')?.at ?? Number.NaN;
    return {
      closeMs: at(name, 'closed', true) - at(name, 'closing', true),
      assignedAfterMs: at(name, 'recovering', false) - started,
      openMs: at(name, 'ready', false) - at(name, 'recovering', false),
    };
  });
  return { nodeId, pchannels: held.length, totalMs: done.ms as number, perMoveMs, steps };
}
