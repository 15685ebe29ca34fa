/**
 * `pnpm bench:coord`: the coordinator's hot paths, each beside a baseline from the same run. Asserts
 * nothing.
 *
 * - TSO: `Tso.allocate()` and `allocateNow()` on a MemoryCatalog, and Allocate over loopback gRPC
 *   (`serveCoordinator`), beside `LocalTimestampAllocator.allocate()` (the bare hybrid clock).
 * - Broadcast to 4 vchannels (memory adapter behind `walSemantics()`, two in-process nodes): one at a
 *   time, and 16 in flight on distinct resource keys, beside 4 plain appends of the same message, one per
 *   vchannel, in parallel (what the broadcast does without locks, ids, task saves and callbacks).
 * - Planned moves: drain a node holding 8 pchannels, in process and over gRPC (three StreamingNodes on
 *   loopback); the time from each move's start to its ASSIGNED, per pchannel, and the whole drain.
 *
 * - Node loss: the owner of a pchannel is closed and its session ends (BENCH_LOSSES times, default 20);
 *   the time until an append is acknowledged by the new owner, over gRPC. The session TTL that detects a
 *   crashed node in a cluster is not in it (etcd sessions are not built yet).
 *
 * Every rate case runs once to warm up, then BENCH_ROUNDS rounds (default 3) of all cases in turn; each
 * keeps its median round. BENCH_BROADCASTS (default 500) broadcasts per round, BENCH_TSO (default 20000)
 * allocations per round (a tenth of them over gRPC).
 */
import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import {
  Balancer,
  ChannelManager,
  type Coordinator,
  InProcessNode,
  InProcessSessions,
  type MoveEvent,
  pchannelCountPolicy,
  RpcNodeManagerClient,
  serveCoordinator,
  startCoordinator,
  Tso,
} from '@walstream/coord';
import {
  createWal,
  defineMessageType,
  exclusiveResourceKey,
  LocalTimestampAllocator,
  MemoryCatalog,
  newMessage,
  pchannelOfVChannel,
  ResourceDomain,
  vchannelName,
} from '@walstream/core';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { type StreamingNode, startNode } from '@walstream/node';
import { AllocateRequestSchema, connectRpc, create } from '@walstream/rpc';
import {
  type BenchCase,
  measureInterleaved,
  now,
  percentile,
  printTable,
  type Sample,
} from '../lib/measure.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BROADCASTS = Number(process.env.BENCH_BROADCASTS ?? 500);
const TSO_OPS = Number(process.env.BENCH_TSO ?? 20_000);
const Ddl = defineMessageType({ name: 'BenchCoordDdl', code: 2401, flags: {} });

async function timed(ops: number, body: (i: number) => Promise<number | undefined>): Promise<Sample> {
  const latencies: number[] = [];
  const start = now();
  for (let i = 0; i < ops; i++) {
    const ms = await body(i);
    if (ms !== undefined) latencies.push(ms);
  }
  return { ops, seconds: (now() - start) / 1000, ...(latencies.length ? { latenciesMs: latencies } : {}) };
}

async function tsoBench(): Promise<void> {
  const coordinator = await startCoordinator({ catalog: new MemoryCatalog(), pchannels: ['tso'] });
  const server = await serveCoordinator(coordinator, { listen: '127.0.0.1:0' });
  const rpc = connectRpc(server.address);
  const tso = new Tso({ catalog: new MemoryCatalog() });
  const local = new LocalTimestampAllocator();
  const cases: BenchCase[] = [
    {
      name: 'LocalTimestampAllocator.allocate()',
      run: () => timed(TSO_OPS, async () => void (await local.allocate())),
    },
    { name: 'Tso.allocate()', run: () => timed(TSO_OPS, async () => void (await tso.allocate())) },
    {
      name: 'Tso.allocateNow() (else allocate())',
      run: () => timed(TSO_OPS, async () => void (tso.allocateNow() ?? (await tso.allocate()))),
    },
    {
      name: 'Allocate over gRPC (count 1)',
      run: () =>
        timed(TSO_OPS / 10, async () => {
          const start = now();
          await rpc.tso.allocate(create(AllocateRequestSchema, { count: 1 }));
          return now() - start;
        }),
    },
  ];
  printTable(
    'TSO allocations',
    await measureInterleaved(cases, ROUNDS),
    'LocalTimestampAllocator.allocate()',
  );
  rpc.close();
  await server.close();
  await coordinator.close();
}

async function embedded(): Promise<{
  coordinator: Coordinator;
  nodes: InProcessNode[];
  vchannels: string[];
}> {
  const pchannels = ['bc0', 'bc1', 'bc2', 'bc3'];
  const coordinator = await startCoordinator({
    catalog: new MemoryCatalog(),
    pchannels,
    policy: 'pchannelCount',
  });
  const store = new MemoryLogStore();
  const nodes: InProcessNode[] = [];
  for (let i = 0; i < 2; i++) {
    const opener = await createWal({ catalog: new MemoryCatalog(), allocator: coordinator.tso })
      .adapter(memoryAdapter({ store }))
      .use(...walSemantics())
      .build();
    nodes.push(new InProcessNode(opener).join(coordinator.sessions));
  }
  await coordinator.balancer.idle(AbortSignal.timeout(30_000));
  const vchannels = pchannels.map((p) => vchannelName(p, 'bench'));
  for (const v of vchannels) await walOf(coordinator, nodes, v).append(createVChannel(v));
  return { coordinator, nodes, vchannels };
}

function walOf(coordinator: Coordinator, nodes: readonly InProcessNode[], vchannel: string) {
  const meta = coordinator.channels.get(pchannelOfVChannel(vchannel));
  const node = nodes.find((n) => n.nodeId === meta.nodeId);
  if (!node) throw new Error(`no owner of ${vchannel}`);
  return node.wal(meta.channel.name);
}

async function broadcastBench(): Promise<void> {
  const { coordinator, nodes, vchannels } = await embedded();
  const body = new Uint8Array(256);
  const message = (key: string) =>
    newMessage(Ddl)
      .broadcast(vchannels, [exclusiveResourceKey(ResourceDomain.CollectionName, key)])
      .body(body)
      .build();
  let key = 0;
  const concurrent = async (inFlight: number): Promise<Sample> => {
    const latencies: number[] = [];
    let next = 0;
    const start = now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < BROADCASTS) {
          next++;
          const t = now();
          await coordinator.broadcaster.broadcast(message(`k${key++}`));
          latencies.push(now() - t);
        }
      }),
    );
    return { ops: BROADCASTS, seconds: (now() - start) / 1000, latenciesMs: latencies };
  };
  const cases: BenchCase[] = [
    {
      name: '4 plain appends in parallel',
      run: () =>
        timed(BROADCASTS, async () => {
          const t = now();
          const m = newMessage(Ddl)
            .vchannel(vchannels[0] as string)
            .body(body)
            .build();
          await Promise.all(
            vchannels.map((v) => walOf(coordinator, nodes, v).append(m.clone().withVChannel(v))),
          );
          return now() - t;
        }),
    },
    { name: 'broadcast to 4 vchannels, 1 in flight', run: () => concurrent(1) },
    { name: 'broadcast to 4 vchannels, 16 in flight', run: () => concurrent(16) },
  ];
  printTable(
    'Broadcasts (memory adapter, walSemantics, 2 in-process nodes)',
    await measureInterleaved(cases, ROUNDS),
    '4 plain appends in parallel',
  );
  await coordinator.close();
  for (const node of nodes) await node.close();
}

interface DrainResult {
  readonly where: string;
  readonly perChannelMs: number[];
  readonly totalMs: number;
}

async function drainInProcess(): Promise<DrainResult> {
  const pchannels = Array.from({ length: 16 }, (_, i) => `dr${i}`);
  const coordinator = await startCoordinator({
    catalog: new MemoryCatalog(),
    pchannels,
    policy: 'pchannelCount',
    balancer: { minMoveIntervalMs: 0 },
  });
  const store = new MemoryLogStore();
  const nodes: InProcessNode[] = [];
  for (let i = 0; i < 2; i++) {
    const opener = await createWal({ catalog: new MemoryCatalog(), allocator: coordinator.tso })
      .adapter(memoryAdapter({ store }))
      .use(...walSemantics())
      .build();
    nodes.push(new InProcessNode(opener).join(coordinator.sessions));
  }
  await coordinator.balancer.idle(AbortSignal.timeout(30_000));
  const result = await drain(coordinator.balancer, (nodes[0] as InProcessNode).nodeId, 'in process');
  await coordinator.close();
  for (const node of nodes) await node.close();
  return result;
}

async function drainOverGrpc(): Promise<DrainResult> {
  const catalog = new MemoryCatalog();
  const store = new MemoryLogStore();
  const tso = new Tso({ catalog });
  const sessions = new InProcessSessions();
  const nodes: StreamingNode[] = [];
  const rpcs = [];
  for (const id of [1n, 2n, 3n]) {
    const node = await startNode({
      adapter: memoryAdapter({ store }),
      catalog,
      listen: '127.0.0.1:0',
      nodeId: id,
      allocator: tso,
    });
    const rpc = connectRpc(node.address);
    rpcs.push(rpc);
    sessions.join(new RpcNodeManagerClient(rpc), { address: node.address, nodeId: String(id) });
    nodes.push(node);
  }
  const pchannels = Array.from({ length: 24 }, (_, i) => `gr${i}`);
  const channels = await ChannelManager.recover({ catalog, pchannels, incarnation: await tso.allocate() });
  const balancer = new Balancer({ channels, sessions, policy: pchannelCountPolicy(), minMoveIntervalMs: 0 });
  await balancer.idle(AbortSignal.timeout(30_000));
  const result = await drain(balancer, '1', 'over gRPC (3 StreamingNodes)');
  await balancer.close();
  for (const rpc of rpcs) rpc.close();
  for (const node of nodes) await node.close();
  return result;
}

async function drain(balancer: Balancer, nodeId: string, where: string): Promise<DrainResult> {
  const started = new Map<string, number>();
  const perChannelMs: number[] = [];
  const subscription = balancer.moves$.subscribe((m: MoveEvent) => {
    if (m.outcome === 'started') started.set(m.pchannel, now());
    if (m.outcome === 'done') perChannelMs.push(now() - (started.get(m.pchannel) ?? now()));
  });
  const start = now();
  await balancer.drain(nodeId, AbortSignal.timeout(60_000));
  await balancer.idle(AbortSignal.timeout(60_000));
  const totalMs = now() - start;
  subscription.unsubscribe();
  return { where, perChannelMs, totalMs };
}

/**
 * A node's session ends (the node is closed and leaves: what the coordinator sees once a lost node's lease
 * expires) while it owns pchannel `lost0`; the time until an append on `lost0` is acknowledged by the new
 * owner, over gRPC. Detection (the session TTL) is not in it: sessions in etcd are not built yet.
 */
async function nodeLossOverGrpc(losses: number): Promise<number[]> {
  const catalog = new MemoryCatalog();
  const store = new MemoryLogStore();
  const tso = new Tso({ catalog });
  const sessions = new InProcessSessions();
  const live = new Map<string, { node: StreamingNode; close: () => Promise<void>; leave: () => void }>();
  let nextId = 1n;
  const addNode = async (): Promise<void> => {
    const id = nextId++;
    const node = await startNode({
      adapter: memoryAdapter({ store }),
      catalog,
      listen: '127.0.0.1:0',
      nodeId: id,
      allocator: tso,
    });
    const rpc = connectRpc(node.address);
    const session = sessions.join(new RpcNodeManagerClient(rpc), {
      address: node.address,
      nodeId: String(id),
    });
    live.set(String(id), {
      node,
      leave: () => session.leave(),
      close: async () => {
        rpc.close();
        await node.close();
      },
    });
  };
  for (let i = 0; i < 3; i++) await addNode();
  const pchannels = ['lost0', 'lost1', 'lost2', 'lost3'];
  const channels = await ChannelManager.recover({ catalog, pchannels, incarnation: await tso.allocate() });
  const balancer = new Balancer({
    channels,
    sessions,
    policy: pchannelCountPolicy(),
    minMoveIntervalMs: 0,
    backoff: { initialMs: 10, maxMs: 200 },
  });
  await balancer.idle(AbortSignal.timeout(30_000));
  const vchannel = vchannelName('lost0', 'v');
  const append = async (): Promise<void> => {
    const meta = channels.get('lost0');
    const owner = live.get(meta.nodeId ?? '');
    if (!owner || meta.state !== 'assigned') throw new Error('no owner');
    const wal = await owner.node.walManager.get('lost0', meta.channel.term, AbortSignal.timeout(5_000));
    await wal.append(newMessage(Ddl).vchannel(vchannel).body(new Uint8Array(16)).build());
  };
  const first = live.get(channels.get('lost0').nodeId ?? '');
  const wal = await first?.node.walManager.get('lost0', channels.get('lost0').channel.term);
  await wal?.append(createVChannel(vchannel));
  const times: number[] = [];
  for (let i = 0; i < losses; i++) {
    const ownerId = channels.get('lost0').nodeId ?? '';
    const owner = live.get(ownerId);
    if (!owner) throw new Error('lost0 has no owner');
    live.delete(ownerId);
    await owner.close();
    const start = now();
    owner.leave();
    for (;;) {
      try {
        await append();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    times.push(now() - start);
    await addNode();
    await balancer.idle(AbortSignal.timeout(30_000));
  }
  await balancer.close();
  for (const n of live.values()) await n.close();
  return times;
}

function printLosses(times: readonly number[]): void {
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `\n### Node lost → first append on the new owner, over gRPC (${sorted.length} losses, detection not included)\n`,
  );
  console.log('| p50 ms | p99 ms | max ms |');
  console.log('|---|---|---|');
  console.log(
    `| ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 99).toFixed(1)} | ${(sorted.at(-1) ?? Number.NaN).toFixed(1)} |`,
  );
}

function printDrains(results: readonly DrainResult[]): void {
  console.log('\n### Planned moves: drain a node holding 8 pchannels\n');
  console.log('| where | pchannels moved | per pchannel p50 ms | per pchannel max ms | whole drain ms |');
  console.log('|---|---|---|---|---|');
  for (const r of results) {
    const sorted = [...r.perChannelMs].sort((a, b) => a - b);
    console.log(
      `| ${r.where} | ${sorted.length} | ${percentile(sorted, 50).toFixed(1)} | ${(sorted.at(-1) ?? Number.NaN).toFixed(1)} | ${r.totalMs.toFixed(1)} |`,
    );
  }
}

await tsoBench();
await broadcastBench();
printDrains([await drainInProcess(), await drainOverGrpc()]);
printLosses(await nodeLossOverGrpc(Number(process.env.BENCH_LOSSES ?? 20)));
