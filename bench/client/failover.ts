/**
 * `pnpm campaign:client-failover`: a client's append unavailability across a node loss. A deployment
 * started with the CLI as processes — `walstream coord` and three `walstream node` on a real etcd and a
 * real Kafka broker (both started here), session TTL 2 s (FAILOVER_TTL) — and one steady producer in this
 * process (`@walstream/client`, `idempotent: true`, one append in flight, on a vchannel of pchannel cf0).
 * Each round SIGKILLs the node owning cf0, waits for 20 acknowledged appends after the kill, then starts
 * a replacement node and lets the producer run 3 s (FAILOVER_STEADY_MS) before the next kill. Per kill: the longest gap
 * between two consecutive acknowledgements from the last one before the kill to the 20th after it, and
 * the time from the kill to the first acknowledgement after it, and to the client's assignment snapshot
 * naming the new owner. Prints a table; asserts nothing (the short
 * version is packages/cli/test/kafka/cluster-kill.test.ts). FAILOVER_KILLS (default 20); FAILOVER_IDEMPOTENT=0
 * for a plain (at-least-once) producer.
 */
import { performance } from 'node:perf_hooks';
import { vchannelName } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { startEtcd } from '@walstream/testkit/etcd';
import { startKafka } from '@walstream/testkit/kafka';
import { CliCluster } from '../../packages/cli/test/support/cli-cluster.ts';
import { createClient } from '../../packages/client/src/index.ts';
import { note } from '../../packages/client/test/support/cluster.ts';
import { percentiles } from '../../packages/coord/test/support/process-cluster.ts';
import '@walstream/adapter-kafka';

const kills = Number(process.env.FAILOVER_KILLS ?? 20);
const ttl = Number(process.env.FAILOVER_TTL ?? 2);
const idempotent = process.env.FAILOVER_IDEMPOTENT !== '0';
const steadyMs = Number(process.env.FAILOVER_STEADY_MS ?? 3_000);
const log = (line: string) => process.stderr.write(`${line}\n`);
const until = async (condition: () => boolean, what: string, timeoutMs = 60_000) => {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

const etcd = await startEtcd();
const kafka = await startKafka();
log(`etcd ${etcd.endpoints[0]}, kafka ${kafka.bootstrap}`);
const cluster = new CliCluster(etcd.endpoints[0] as string, kafka.bootstrap, `cf-${process.pid}/`, ttl);
try {
  const coordinator = await cluster.coordinator(['cf0', 'cf1', 'cf2']);
  await Promise.all([cluster.node(), cluster.node(), cluster.node()]);
  const client = createClient({
    coord: coordinator.address,
    idempotent,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  const vchannel = vchannelName('cf0', 'v0');
  await client.append(createVChannel(vchannel));

  // The producer: one append in flight, each acknowledgement's time kept.
  const acks: number[] = [];
  const failures: string[] = [];
  let stopping = false;
  const producing = (async () => {
    for (let seq = 0; !stopping; seq++) {
      try {
        await client.append(note(vchannel, seq));
        acks.push(performance.now());
      } catch (error) {
        failures.push(String(error));
      }
    }
  })();
  await until(() => acks.length >= 50, 'the first 50 appends');

  // When the client's assignment snapshot first names each term of cf0.
  const seenTerm = new Map<bigint, number>();
  const watching = client.assignments$.subscribe((assignment) => {
    const term = assignment?.channels.get('cf0')?.pchannel.term;
    if (term !== undefined && !seenTerm.has(term)) seenTerm.set(term, performance.now());
  });

  const gaps: number[] = [];
  const firstAcks: number[] = [];
  const newOwnerSeen: number[] = [];
  for (let k = 0; k < kills; k++) {
    const owner = client.assignment?.channels.get('cf0');
    if (!owner) throw new Error('cf0 has no owner before the kill');
    const before = acks.length;
    const killedAt = performance.now();
    await cluster.kill(cluster.nodeById(owner.nodeId));
    await until(() => acks.length >= before + 20 && (acks[acks.length - 20] ?? 0) > killedAt, '20 acks');
    const from = acks.findIndex((t) => t > killedAt);
    let gap = 0;
    for (let i = Math.max(1, from); i < from + 20; i++) gap = Math.max(gap, acks[i]! - acks[i - 1]!);
    gaps.push(gap);
    firstAcks.push(acks[from]! - killedAt);
    const after = client.assignment?.channels.get('cf0');
    const seenAt = after ? seenTerm.get(after.pchannel.term) : undefined;
    if (seenAt !== undefined) newOwnerSeen.push(seenAt - killedAt);
    log(
      `kill ${k + 1}/${kills}: node ${owner.nodeId} (cf0 term ${owner.pchannel.term} → ${after?.pchannel.term} on node ${after?.nodeId}), longest gap ${gap.toFixed(0)} ms, first ack ${(acks[from]! - killedAt).toFixed(0)} ms after the kill, new owner in the client's snapshot ${seenAt === undefined ? '?' : (seenAt - killedAt).toFixed(0)} ms`,
    );
    await cluster.node();
    const steady = performance.now() + steadyMs;
    await until(() => performance.now() > steady, 'the steady period');
  }
  stopping = true;
  await producing;
  watching.unsubscribe();
  await client.close();

  const row = (name: string, values: number[]) => {
    const p = percentiles(values);
    return `| ${name} | ${values.length} | ${p.p50.toFixed(0)} | ${p.p99.toFixed(0)} | ${p.max.toFixed(0)} |`;
  };
  console.log(
    `\nClient append unavailability across a node SIGKILL, session TTL ${ttl} s, Kafka, ${idempotent ? 'idempotent' : 'plain'} producer (${kills} kills, ${new Date().toISOString().slice(0, 10)})\n`,
  );
  console.log('| per kill | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|');
  console.log(row('longest gap between consecutive acknowledged appends', gaps));
  console.log(row('kill → first acknowledged append after it', firstAcks));
  console.log(row("kill → the new owner in the client's assignment snapshot", newOwnerSeen));
  console.log(
    `\n${acks.length} appends acknowledged, ${failures.length} failed${failures.length ? `: ${failures.slice(0, 3).join('; ')}` : ''}`,
  );
} finally {
  await cluster.close();
  await kafka.stop();
  await etcd.stop();
}
