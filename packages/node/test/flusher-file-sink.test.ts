import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { localAdapter } from '@walstream/adapter-local';
// Registers the memory adapter's ids, which the torn-tail case's records carry.
import '@walstream/adapter-memory';
import { createWal, MemoryCatalog, pchannel, SystemMessageType } from '@walstream/core';
import { beginTxnMessage, commitTxnMessage, inTxn, walSemantics } from '@walstream/interceptors';
import {
  createWalManager,
  FILE_SINK_VERSION,
  type FileSinkRecord,
  fileSink,
  fileSinkPath,
  readFileSink,
} from '@walstream/node';
import { afterEach, describe, expect, it } from 'vitest';
import { appendNotes, createVChannels, note } from './flusher-support.js';
import { until } from './wal-manager-support.js';

const P = 'fs';
const VCHANNELS = [`${P}_av0`, `${P}_bv0`];

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function tempDir(prefix: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), prefix));
  cleanup.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

async function records(path: string): Promise<FileSinkRecord[]> {
  const out: FileSinkRecord[] = [];
  try {
    for await (const record of readFileSink(path)) out.push(record);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return out;
}

describe('fileSink', () => {
  it('writes one JSON record per message to each vchannel file, a txn as one record with its bodies; a restart appends only what is new', async () => {
    const logDir = await tempDir('walstream-filesink-log-');
    const sinkDir = await tempDir('walstream-filesink-out-');
    const catalog = new MemoryCatalog();
    const start = async (term: bigint) => {
      const opener = await createWal({ catalog })
        .adapter(localAdapter({ directory: logDir }))
        .use(...walSemantics({ recovery: { persistIntervalMs: 5 }, timeTick: { syncGapMs: 1 } }))
        .build();
      const manager = createWalManager({
        opener,
        catalog,
        flusher: { sinks: [fileSink({ directory: sinkDir })], syncIntervalMs: 1 },
      });
      const close = async () => {
        await manager.close();
        await opener.close();
      };
      cleanup.push(close);
      manager.assign(pchannel(P, term));
      return { wal: await manager.get(P, term), close };
    };

    const first = await start(1n);
    const appended = [
      ...(await createVChannels(first.wal, VCHANNELS)),
      ...(await appendNotes(first.wal, VCHANNELS, 6)),
    ];
    const begin = await first.wal.append(beginTxnMessage(VCHANNELS[0]!));
    const bodies = [];
    for (const seq of [100, 101])
      bodies.push(await first.wal.append(inTxn(note(VCHANNELS[0]!, seq), begin.txn!)));
    const commit = await first.wal.append(commitTxnMessage(VCHANNELS[0]!, begin.txn!));
    const pathA = fileSinkPath(sinkDir, P, VCHANNELS[0]!);
    const pathB = fileSinkPath(sinkDir, P, VCHANNELS[1]!);
    const countA = appended.filter((entry) => entry.vchannel === VCHANNELS[0]).length + 1;
    const countB = appended.filter((entry) => entry.vchannel === VCHANNELS[1]).length;
    await until(
      async () => (await records(pathA)).length === countA && (await records(pathB)).length === countB,
      'the files',
    );

    const inA = await records(pathA);
    expect(inA.every((record) => record.v === FILE_SINK_VERSION && record.wal === 'local')).toBe(true);
    expect(inA.slice(0, -1).map((record) => BigInt(record.tt))).toEqual(
      appended.filter((entry) => entry.vchannel === VCHANNELS[0]).map((entry) => entry.timeTick),
    );
    expect(inA[1]!.id).toBe(
      appended
        .find((entry) => entry.vchannel === VCHANNELS[0] && entry !== appended[0])!
        .result.messageId.marshal(),
    );
    expect(Buffer.from(inA[1]!.payload, 'base64')).toEqual(Buffer.alloc(64, 0));
    const txn = inA.at(-1)!;
    expect(txn.type).toBe(SystemMessageType.Txn);
    expect(BigInt(txn.tt)).toBe(commit.timeTick);
    expect(txn.bodies?.map((body) => body.properties.seq)).toEqual(['100', '101']);
    expect(txn.bodies?.map((body) => body.id)).toEqual(bodies.map((body) => body.messageId.marshal()));
    await first.close();

    // A new term finds the files and appends after their last records, nothing twice.
    const second = await start(2n);
    const more = await appendNotes(second.wal, VCHANNELS, 4, 6);
    await until(async () => (await records(pathB)).length === countB + 2, 'the new records');
    const tts = (await records(pathB)).map((record) => BigInt(record.tt));
    expect(new Set(tts).size).toBe(tts.length);
    expect(tts.slice(-2)).toEqual(
      more.filter((entry) => entry.vchannel === VCHANNELS[1]).map((entry) => entry.timeTick),
    );
    expect((await records(pathA)).length).toBe(countA + 2);
  });

  it('cuts a torn last line at open and reports the last whole record as durable', async () => {
    const sinkDir = await tempDir('walstream-filesink-torn-');
    const vchannel = `${P}_tv0`;
    const path = fileSinkPath(sinkDir, P, vchannel);
    const line = (id: number, tt: number) =>
      `${JSON.stringify({ v: 1, id: String(id), wal: 'memory', tt: String(tt), type: 4312, properties: {}, payload: '' })}\n`;
    const whole = line(0, 10) + line(1, 20);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, whole);
    await appendFile(path, '{"v":1,"id":"2","wal":"mem');
    const writer = await fileSink({ directory: sinkDir }).open(pchannel(P, 1n));
    expect(writer.durable.get(vchannel)?.timeTick).toBe(20n);
    expect(writer.durable.get(vchannel)?.messageId.marshal()).toBe('1');
    expect((await stat(path)).size).toBe(Buffer.byteLength(whole));
    expect(await readFile(path, 'utf8')).toBe(whole);
    await writer.close();
  });

  it('checks its options', () => {
    expect(() => fileSink({} as never)).toThrow(/directory/);
    expect(() => fileSink({ directory: '/tmp', bogus: 1 } as never)).toThrow(/bogus/);
  });
});
