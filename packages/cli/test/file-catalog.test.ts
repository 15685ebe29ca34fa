import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type WalCheckpoint, WalError } from '@walstream/core';
import { afterAll, describe, expect, it } from 'vitest';
import { FileCatalog } from '../src/index.js';

const scratch = mkdtempSync(join(tmpdir(), 'walstream-file-catalog-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(scratch, `catalog-${++files}.json`);

const checkpoint = (term: bigint, timeTick: bigint): WalCheckpoint & { semanticsState: string } => ({
  messageId: '42',
  walName: 'local',
  timeTick,
  term,
  semanticsState: '{"vchannels":[]}',
});

describe('FileCatalog', () => {
  it('keeps every kind of record across a reopen of the file, bigints and bytes exact', async () => {
    const file = freshFile();
    const catalog = await FileCatalog.open(file);
    await catalog.savePChannels([
      {
        channel: { name: 'a', term: 3n, accessMode: 'rw' },
        state: 'assigned',
        nodeId: 'n1',
        history: [{ nodeId: 'n0', term: 2n }],
      },
    ]);
    await catalog.saveBroadcastTask({
      broadcastId: 2n ** 70n,
      state: 'pending',
      message: { payload: Uint8Array.of(0, 255, 7), properties: { k: 'v', empty: '' } },
      acked: ['a_v0'],
    });
    await catalog.saveBroadcastTask({
      broadcastId: 5n,
      state: 'done',
      message: { payload: new Uint8Array(), properties: {} },
      acked: [],
    });
    await catalog.removeBroadcastTask(5n);
    expect(await catalog.saveCheckpoint('a', checkpoint(3n, 2n ** 62n + 1n))).toBe(true);
    await catalog.saveTimestampHighWater(2n ** 63n);

    const again = await FileCatalog.open(file);
    expect(await again.listPChannels()).toEqual(await catalog.listPChannels());
    expect(await again.listBroadcastTasks()).toEqual([
      {
        broadcastId: 2n ** 70n,
        state: 'pending',
        message: { payload: Uint8Array.of(0, 255, 7), properties: { k: 'v', empty: '' } },
        acked: ['a_v0'],
      },
    ]);
    expect(await again.getCheckpoint('a')).toEqual(checkpoint(3n, 2n ** 62n + 1n));
    expect(await again.getTimestampHighWater()).toBe(2n ** 63n);
  });

  it('refuses a checkpoint of a lower term than the stored one, and writes nothing then', async () => {
    const file = freshFile();
    const catalog = await FileCatalog.open(file);
    expect(await catalog.saveCheckpoint('a', checkpoint(5n, 10n))).toBe(true);
    const before = await readFile(file, 'utf8');
    expect(await catalog.saveCheckpoint('a', checkpoint(4n, 20n))).toBe(false);
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await catalog.saveCheckpoint('a', checkpoint(5n, 30n))).toBe(true);
    expect((await (await FileCatalog.open(file)).getCheckpoint('a'))?.timeTick).toBe(30n);
  });

  it('every save made while another is writing is on disk when it resolves', async () => {
    const file = freshFile();
    const catalog = await FileCatalog.open(file);
    const saves = Array.from({ length: 20 }, (_, i) =>
      catalog.saveCheckpoint(`p${i}`, checkpoint(1n, BigInt(i))),
    );
    for (const [i, save] of saves.entries()) {
      await save;
      // What this save changed is in the file as soon as it resolved, whatever the others do.
      expect((await FileCatalog.open(file).then((c) => c.getCheckpoint(`p${i}`)))?.timeTick).toBe(BigInt(i));
    }
  });

  it('a damaged file is UNRECOVERABLE naming it; a missing one is an empty catalog', async () => {
    const file = freshFile();
    expect(await (await FileCatalog.open(file)).listPChannels()).toEqual([]);
    await writeFile(file, '{"format":1,"pchannels":[');
    const error = await FileCatalog.open(file).catch((reason: unknown) => reason);
    expect(WalError.is(error) && error.code).toBe('UNRECOVERABLE');
    expect((error as WalError).details.file).toBe(file);
  });
});
