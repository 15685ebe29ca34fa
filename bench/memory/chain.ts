/**
 * Issue 3's figures on the memory adapter: full-chain append (walSemantics: redo → lock → timetick →
 * shard) beside the raw adapter in the same run, and append-to-visible latency for a tailing reader.
 */
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  defineMessageType,
  type MutableMessage,
  messageTypes,
  newMessage,
  pchannel,
  SystemMessageType,
  type Wal,
} from '@walstream/core';
import type { WalImpls } from '@walstream/core/spi';
import {
  createVChannel,
  lock,
  redo,
  type SemanticsOptions,
  shard,
  timeTick,
  walSemantics,
} from '@walstream/interceptors';
import {
  collectGarbage,
  measureInterleaved,
  now,
  printTable,
  type Result,
  type Sample,
} from '../lib/measure.js';

const COUNT = 20_000;
const IN_FLIGHT = 1_000;
const VISIBLE_COUNT = 1_000;
const PAYLOAD = new Uint8Array(64).fill(7);
const ChainEvent =
  messageTypes.byName('ChainBenchEvent') ??
  defineMessageType({ name: 'ChainBenchEvent', code: 3011, flags: {} });
const VCHANNEL = 'chain_v0';

function batch(count: number): MutableMessage[] {
  return Array.from({ length: count }, (_, i) =>
    newMessage(ChainEvent).vchannel(VCHANNEL).property('seq', String(i)).body(PAYLOAD).build(),
  );
}

/** Appends one at a time, recording each append's latency. */
async function oneAtATime(append: (message: MutableMessage) => Promise<unknown>): Promise<Sample> {
  const messages = batch(COUNT);
  const latenciesMs: number[] = new Array(COUNT);
  collectGarbage();
  const start = now();
  for (let i = 0; i < COUNT; i++) {
    const began = now();
    await append(messages[i]!);
    latenciesMs[i] = now() - began;
  }
  return { ops: COUNT, seconds: (now() - start) / 1_000, latenciesMs };
}

/** Keeps 1000 appends in flight (batches of 1000), recording each append's latency. */
async function inFlight(append: (message: MutableMessage) => Promise<unknown>): Promise<Sample> {
  const messages = batch(COUNT);
  const latenciesMs: number[] = [];
  collectGarbage();
  const start = now();
  for (let i = 0; i < COUNT; i += IN_FLIGHT) {
    await Promise.all(
      messages.slice(i, i + IN_FLIGHT).map(async (message) => {
        const began = now();
        await append(message);
        latenciesMs.push(now() - began);
      }),
    );
  }
  return { ops: COUNT, seconds: (now() - start) / 1_000, latenciesMs };
}

let channelSeq = 0;
async function rawWal(): Promise<WalImpls> {
  return (await memoryAdapter().build()).open({ channel: pchannel(`chain-raw-${++channelSeq}`, 1n) });
}

async function chainWal(): Promise<Wal> {
  return partialChainWal(walSemantics);
}

/** No interceptors: the runtime alone (state checks, the chain call, a timetick, the adapter call). */
async function runtimeOnlyWal(): Promise<Wal> {
  const opener = await createWal().adapter(memoryAdapter()).build();
  return opener.open({ channel: pchannel(`chain-bare-${++channelSeq}`, 1n) });
}

/**
 * A chain of some of the semantics interceptors (all built from one options object, as they must be).
 * Without the shard interceptor no vchannel needs creating, but the CreateVChannel is written anyway,
 * so every stack starts from the same log.
 */
async function partialChainWal(
  pick: (options: SemanticsOptions) => ReturnType<typeof walSemantics>,
): Promise<Wal> {
  const opener = await createWal()
    .adapter(memoryAdapter())
    .use(...pick({}))
    .build();
  const wal = await opener.open({ channel: pchannel(`chain-${++channelSeq}`, 1n) });
  await wal.append(createVChannel(VCHANNEL));
  return wal;
}

/**
 * Closed loop: append one message, wait until a tailing reader of the vchannel delivers it, then the next.
 * The latency is the append call's start to the delivery, so it includes the TimeTick that makes the
 * message visible.
 */
async function appendToVisible(): Promise<Sample> {
  const wal = await chainWal();
  const scanner = await wal.read({ vchannel: VCHANNEL, deliverPolicy: DeliverPolicy.latest() });
  const messages = batch(VISIBLE_COUNT);
  const latenciesMs: number[] = [];
  collectGarbage();
  const start = now();
  for (const message of messages) {
    const began = now();
    const seq = message.properties.seq;
    await wal.append(message);
    for (;;) {
      const next = await scanner.next();
      if (next.done) throw new Error('the tailing reader ended early');
      if (next.value.messageType !== SystemMessageType.TimeTick && next.value.properties.seq === seq) break;
    }
    latenciesMs.push(now() - began);
  }
  const seconds = (now() - start) / 1_000;
  await wal.close();
  return { ops: VISIBLE_COUNT, seconds, latenciesMs };
}

/** Open loop: appends as fast as they go while a tailing reader keeps up (or not): the reader's throughput. */
async function tailingThroughput(): Promise<Sample> {
  const wal = await chainWal();
  const scanner = await wal.read({ vchannel: VCHANNEL, deliverPolicy: DeliverPolicy.latest() });
  const messages = batch(VISIBLE_COUNT);
  collectGarbage();
  const start = now();
  const reading = (async () => {
    let seen = 0;
    for await (const message of scanner) {
      if (message.messageType !== SystemMessageType.TimeTick && ++seen === VISIBLE_COUNT) break;
    }
  })();
  for (const message of messages) await wal.append(message);
  await reading;
  const seconds = (now() - start) / 1_000;
  await wal.close();
  return { ops: VISIBLE_COUNT, seconds };
}

export async function runChainBench(): Promise<Result[]> {
  const RAW = 'raw adapter append, 1 at a time';
  const append = await measureInterleaved([
    { name: RAW, run: () => using(rawWal, oneAtATime) },
    { name: 'raw adapter append, 1000 in flight', run: () => using(rawWal, inFlight) },
    { name: 'full chain append, 1 at a time', run: () => using(chainWal, oneAtATime) },
    { name: 'full chain append, 1000 in flight', run: () => using(chainWal, inFlight) },
  ]);
  printTable(
    `full interceptor chain on the memory adapter (${COUNT.toLocaleString('en-US')} × 64 B, median of 5 interleaved rounds)`,
    append,
    RAW,
  );

  const BARE = 'runtime only (no interceptors)';
  const layers = await measureInterleaved([
    { name: RAW, run: () => using(rawWal, oneAtATime) },
    { name: BARE, run: () => using(runtimeOnlyWal, oneAtATime) },
    {
      name: '+ timetick (acks, LC, syncs, WAB, txns)',
      run: () => using(() => partialChainWal((o) => [timeTick(o)]), oneAtATime),
    },
    { name: '+ lock', run: () => using(() => partialChainWal((o) => [lock(o), timeTick(o)]), oneAtATime) },
    {
      name: '+ redo',
      run: () => using(() => partialChainWal((o) => [redo(o), lock(o), timeTick(o)]), oneAtATime),
    },
    {
      name: '+ shard = full chain',
      run: () => using(() => partialChainWal((o) => [redo(o), lock(o), timeTick(o), shard(o)]), oneAtATime),
    },
  ]);
  printTable(
    `where the time goes: the chain built up one interceptor at a time (1 at a time, median of 5 interleaved rounds)`,
    layers,
    RAW,
  );

  const VISIBLE = 'append → visible to a tailing reader (closed loop)';
  const visible = await measureInterleaved(
    [
      { name: VISIBLE, run: appendToVisible },
      { name: 'appends with a tailing reader (open loop, until it read all)', run: tailingThroughput },
    ],
    3,
  );
  printTable(
    `append-to-visible on the full chain (${VISIBLE_COUNT.toLocaleString('en-US')} appends, median of 3 interleaved rounds)`,
    visible,
    VISIBLE,
  );
  return [...append, ...layers, ...visible];
}

type Appender = (message: MutableMessage) => Promise<unknown>;

/** Runs one case on a fresh WAL and closes it after, so no WAL's timers outlive its case. */
async function using(
  open: () => Promise<{ append(message: MutableMessage): Promise<unknown>; close(): Promise<void> }>,
  run: (append: Appender) => Promise<Sample>,
): Promise<Sample> {
  const wal = await open();
  try {
    return await run((message) => wal.append(message));
  } finally {
    await wal.close();
  }
}
