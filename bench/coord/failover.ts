/**
 * `pnpm campaign:failover`: node and coordinator processes on a real etcd and a real Kafka broker (both
 * started here), SIGKILLed over and over. Prints tables; asserts nothing (the short versions of these
 * scenarios are the tests in packages/coord/test/kafka/).
 *
 * - Node kills (FAILOVER_KILLS, default 20): a coordinator and a standby, 3 nodes, 6 pchannels, session
 *   TTL 2 s (FAILOVER_TTL). Each round SIGKILLs the owner of a pchannel, then appends to each of its
 *   pchannels on whatever owner the catalog names until one is acknowledged; a new node replaces the
 *   victim and the layout settles before the next round.
 * - Coordinator kills (FAILOVER_COORD_KILLS, default 5), on the same cluster: the active coordinator is
 *   SIGKILLed; the time until the standby reports itself active and serving, then until an append on a
 *   pchannel moved by the new coordinator is acknowledged (a node is SIGKILLed at the same moment, so the
 *   new coordinator has a move to make). A new standby replaces the dead one.
 * - Planned drain: a node holding 8 pchannels is drained; each move's time from start to ASSIGNED, and
 *   its steps from the nodes' WAL lifetime events (old owner's close, new owner's open).
 */
import { performance } from 'node:perf_hooks';
import { startEtcd } from '@walstream/testkit/etcd';
import { startKafka } from '@walstream/testkit/kafka';
import {
  drainNode,
  killNode,
  type NodeKillResult,
} from '../../packages/coord/test/support/failover-scenarios.ts';
import { ProcessCluster, percentiles } from '../../packages/coord/test/support/process-cluster.ts';
import '@walstream/adapter-kafka';

const kills = Number(process.env.FAILOVER_KILLS ?? 20);
const ttl = Number(process.env.FAILOVER_TTL ?? 2);
const coordKills = Number(process.env.FAILOVER_COORD_KILLS ?? 5);
const log = (line: string) => process.stderr.write(`${line}\n`);

const etcd = await startEtcd();
const kafka = await startKafka();
log(`etcd ${etcd.endpoints[0]}, kafka ${kafka.bootstrap}`);
try {
  // Node kills.
  const pchannels = Array.from({ length: 6 }, (_, i) => `fo${i}`);
  const cluster = new ProcessCluster(etcd.endpoints, kafka.bootstrap, pchannels, ttl);
  await cluster.open();
  try {
    for (let i = 0; i < 3; i++) await cluster.spawnNode();
    const active = cluster.spawnCoordinator();
    await cluster.whenActive(active, 60_000);
    cluster.spawnCoordinator();
    await settled(cluster);
    await cluster.createVChannels();
    const results: NodeKillResult[] = [];
    for (let k = 0; k < kills; k++) {
      const metas = await cluster.metas();
      const victimId = metas[k % metas.length]?.nodeId;
      const victim = cluster.nodes.find((n) => n.nodeId === victimId) ?? cluster.nodes[0]!;
      const result = await killNode(cluster, victim, k);
      results.push(result);
      log(
        `kill ${k + 1}/${kills}: node ${result.victim} (${result.pchannels.length} pchannels) session gone ${result.sessionGoneMs.toFixed(0)} ms, first ack ${result.firstAckMs.toFixed(0)} ms, last ${result.lastAckMs.toFixed(0)} ms, terms ${result.pchannels.map((p) => `${p.termBefore}→${p.termAfter}`).join(' ')}`,
      );
      await cluster.spawnNode();
      await settled(cluster);
    }
    const row = (name: string, values: number[]) => {
      const p = percentiles(values);
      return `| ${name} | ${values.length} | ${p.p50.toFixed(0)} | ${p.p99.toFixed(0)} | ${p.max.toFixed(0)} |`;
    };
    const perChannel = results.flatMap((r) => r.pchannels.map((p) => p.ackMs));
    const jumps = results.flatMap((r) => r.pchannels.map((p) => Number(p.termAfter - p.termBefore)));
    if (kills > 0) {
      console.log(
        `\nNode SIGKILL, session TTL ${ttl} s (${kills} kills, ${new Date().toISOString().slice(0, 10)})\n`,
      );
      console.log('| from the kill to | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|');
      console.log(
        row(
          "etcd ended the victim's session",
          results.map((r) => r.sessionGoneMs),
        ),
      );
      console.log(
        row(
          'first acknowledged append on a new owner',
          results.map((r) => r.firstAckMs),
        ),
      );
      console.log(row('acknowledged append, each of its pchannels', perChannel));
      console.log(
        row(
          'the last of its pchannels writable',
          results.map((r) => r.lastAckMs),
        ),
      );
      console.log(
        `\nterm after − term before: ${[...new Set(jumps)].sort().join(', ')} (over ${jumps.length} pchannel moves)`,
      );
    }

    // Coordinator kills, each with a node SIGKILLed at the same moment.
    const takeovers: number[] = [];
    const moved: number[] = [];
    for (let k = 0; k < coordKills; k++) {
      const active = cluster.coordinators.find((c) => c.alive && c.lines.some((l) => l.role === 'active'))!;
      const standby = cluster.coordinators.find((c) => c !== active && c.alive)!;
      const metas = await cluster.metas();
      const victim = cluster.nodes.find((n) => n.nodeId === metas[k % metas.length]?.nodeId)!;
      const start = performance.now();
      const nodeKill = killNode(cluster, victim, 1_000 + k);
      await active.kill();
      await cluster.whenActive(standby, 30_000);
      takeovers.push(performance.now() - start);
      const result = await nodeKill;
      moved.push(result.firstAckMs);
      log(
        `coordinator kill ${k + 1}/${coordKills}: standby active ${takeovers.at(-1)!.toFixed(0)} ms, the killed node's first pchannel writable ${result.firstAckMs.toFixed(0)} ms`,
      );
      cluster.spawnCoordinator();
      await cluster.spawnNode();
      await settled(cluster);
    }
    if (coordKills > 0) {
      console.log(
        `\nCoordinator SIGKILL (with a node SIGKILLed at the same moment), election TTL ${ttl} s\n`,
      );
      console.log('| from the kill to | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|');
      console.log(row('the standby active and serving', takeovers));
      console.log(row("first acknowledged append on the dead node's pchannel", moved));
    }
  } finally {
    await cluster.close();
  }

  // Planned drain of a node holding 8 pchannels.
  const drainChannels = Array.from({ length: 8 }, (_, i) => `dr${i}`);
  const drain = new ProcessCluster(etcd.endpoints, kafka.bootstrap, drainChannels, ttl);
  await drain.open();
  try {
    const first = await drain.spawnNode();
    // No balance moves: the nodes that join later stay empty until the drain.
    const coordinator = drain.spawnCoordinator({ rebalance: false });
    await drain.whenActive(coordinator, 60_000);
    await drain.untilAssigned([], 60_000);
    await drain.createVChannels();
    await drain.spawnNode();
    await drain.spawnNode();
    const early = coordinator.lines
      .flatMap((l) => (l.move ? [l.move as { outcome: string; reason: string; pchannel: string }] : []))
      .filter((m) => m.outcome === 'started' && m.reason !== 'unassigned');
    if (early.length > 0) {
      log(`moves before the drain: ${early.map((m) => `${m.pchannel} (${m.reason})`).join(', ')}`);
    }
    const result = await drainNode(drain, 0, first.nodeId);
    const p = percentiles(result.perMoveMs);
    console.log(`\nPlanned drain of a node with ${result.pchannels} pchannels onto 2 nodes (Kafka)\n`);
    console.log('| whole drain ms | per pchannel p50 ms | p99 ms | max ms |\n|---|---|---|---|');
    console.log(`| ${result.totalMs} | ${p.p50} | ${p.p99} | ${p.max} |`);
    const step = (name: string, values: number[]) => {
      const q = percentiles(values);
      return `| ${name} | ${q.p50} | ${q.max} |`;
    };
    console.log('\n| step of each move | p50 ms | max ms |\n|---|---|---|');
    console.log(
      step(
        "old owner's close (closing → closed)",
        result.steps.map((s) => s.closeMs),
      ),
    );
    console.log(
      step(
        'move started → new owner opening',
        result.steps.map((s) => s.assignedAfterMs),
      ),
    );
    console.log(
      step(
        "new owner's open (recovering → ready)",
        result.steps.map((s) => s.openMs),
      ),
    );
  } finally {
    await drain.close();
  }
} finally {
  await kafka.stop();
  await etcd.stop();
}

/** Every pchannel ASSIGNED on a live node, and the live nodes' counts at most one apart. */
async function settled(cluster: ProcessCluster): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const metas = await cluster.untilAssigned([], 60_000);
    const counts = cluster.nodes.map((n) => metas.filter((m) => m.nodeId === n.nodeId).length);
    if (Math.max(...counts) - Math.min(...counts) <= 1) return;
    if (Date.now() > deadline) throw new Error(`layout did not settle: ${counts.join('/')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
