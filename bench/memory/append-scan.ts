/**
 * Memory adapter append and scan throughput beside the floor measured in the same run: a plain awaited
 * push into an array. Messages are built before the clock starts, for every case alike.
 */
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  defineMessageType,
  type MutableMessage,
  newMessage,
  pchannel,
} from '@walstream/core';
import type { WalImpls } from '@walstream/core/spi';
import {
  collectGarbage,
  measureInterleaved,
  now,
  printTable,
  type Result,
  type Sample,
} from '../lib/measure.js';

const COUNT = 50_000;
const IN_FLIGHT = 1_000;
const FLOOR = 'floor: awaited array push, 1 at a time';
const PAYLOAD = new Uint8Array(64).fill(7);
const BenchEvent = defineMessageType({ name: 'BenchEvent', code: 3001, flags: {} });

function messages(count: number): MutableMessage[] {
  return Array.from({ length: count }, (_, i) =>
    newMessage(BenchEvent).vchannel('bench_v0').property('seq', String(i)).body(PAYLOAD).build(),
  );
}

type Appender = (message: MutableMessage) => Promise<unknown>;

function appendTo(wal: { append(message: MutableMessage): Promise<unknown> }): Appender {
  return (message) => wal.append(message);
}

async function oneAtATime(append: (message: MutableMessage) => Promise<unknown>): Promise<Sample> {
  const batch = messages(COUNT);
  collectGarbage();
  const start = now();
  for (const message of batch) await append(message);
  return { ops: COUNT, seconds: (now() - start) / 1_000 };
}

async function inFlight(append: (message: MutableMessage) => Promise<unknown>): Promise<Sample> {
  const batch = messages(COUNT);
  collectGarbage();
  const start = now();
  for (let i = 0; i < COUNT; i += IN_FLIGHT) await Promise.all(batch.slice(i, i + IN_FLIGHT).map(append));
  return { ops: COUNT, seconds: (now() - start) / 1_000 };
}

let channelSeq = 0;
async function freshAdapterWal(): Promise<WalImpls> {
  const opener = await memoryAdapter().build();
  return opener.open({ channel: pchannel(`bench-${++channelSeq}`, 1n) });
}

async function freshRuntimeWal() {
  const opener = await createWal().adapter(memoryAdapter()).build();
  return opener.open({ channel: pchannel(`bench-${++channelSeq}`, 1n) });
}

async function scanAll(
  read: () => Promise<AsyncIterable<unknown> & { close(): Promise<void> }>,
): Promise<Sample> {
  const scanner = await read();
  collectGarbage();
  const start = now();
  let seen = 0;
  for await (const _ of scanner) if (++seen === COUNT) break;
  return { ops: seen, seconds: (now() - start) / 1_000 };
}

export async function runMemoryBench(): Promise<Result[]> {
  const floor: unknown[] = [];
  const push = async (message: MutableMessage): Promise<number> => floor.push(message);
  const floorCase = {
    name: FLOOR,
    run: () => {
      floor.length = 0;
      return oneAtATime(push);
    },
  };

  const appendResults = await measureInterleaved([
    floorCase,
    {
      name: 'floor: awaited array push, 1000 in flight',
      run: () => {
        floor.length = 0;
        return inFlight(push);
      },
    },
    { name: 'adapter append, 1 at a time', run: async () => oneAtATime(appendTo(await freshAdapterWal())) },
    { name: 'adapter append, 1000 in flight', run: async () => inFlight(appendTo(await freshAdapterWal())) },
    {
      name: 'runtime append (no interceptors), 1 at a time',
      run: async () => oneAtATime(appendTo(await freshRuntimeWal())),
    },
    {
      name: 'runtime append (no interceptors), 1000 in flight',
      run: async () => inFlight(appendTo(await freshRuntimeWal())),
    },
  ]);
  printTable(
    `memory adapter append (${COUNT.toLocaleString('en-US')} × 64 B messages, median of 5 interleaved rounds)`,
    appendResults,
    FLOOR,
  );

  const adapterWal = await freshAdapterWal();
  await inFlight(appendTo(adapterWal));
  const runtimeWal = await freshRuntimeWal();
  await inFlight(appendTo(runtimeWal));
  const scanResults = await measureInterleaved([
    floorCase,
    {
      name: 'adapter raw scanner (read-ahead 128)',
      run: () =>
        scanAll(() =>
          adapterWal.read({ name: 'bench', deliverPolicy: DeliverPolicy.all(), readAheadBufferSize: 128 }),
        ),
    },
    {
      name: 'runtime scanner, one vchannel (read-ahead 128)',
      run: () =>
        scanAll(() =>
          runtimeWal.read({
            vchannel: 'bench_v0',
            deliverPolicy: DeliverPolicy.all(),
            readAheadBufferSize: 128,
          }),
        ),
    },
  ]);
  printTable(
    `memory adapter scan (${COUNT.toLocaleString('en-US')} messages, median of 5 interleaved rounds)`,
    scanResults,
    FLOOR,
  );
  return [...appendResults, ...scanResults];
}
