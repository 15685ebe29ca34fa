import { type FileHandle, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type LocalAdapterOptions, localAdapter } from '@walstream/adapter-local';
import { DeliverPolicy, type MessageID, MutableMessage, pchannel } from '@walstream/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { message, readAll, rejectsWith, scratchDirectory, seqOf, take, within } from './helpers.js';

const root = scratchDirectory('adapter');
let counter = 0;
/** Options for a directory of its own. */
function fresh(extra: Partial<LocalAdapterOptions> = {}): LocalAdapterOptions {
  return { directory: join(root, `d${++counter}`), ...extra };
}

/** The prototype of node's FileHandle, for spies on what the adapter asks of the disk. */
async function fileHandlePrototype(): Promise<FileHandle> {
  const handle = await open(join(root, 'probe'), 'w');
  await handle.close();
  return Object.getPrototypeOf(handle) as FileHandle;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('group commit', () => {
  it('1000 appends issued together share at most two group commits and get consecutive ids in call order', async () => {
    const adapter = localAdapter(fresh());
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('together', 1n) });
    const ids = await Promise.all(Array.from({ length: 1000 }, (_, i) => wal.append(message(i))));
    expect(ids.map((id) => id.marshal())).toEqual(ids.map((_, i) => String(i)));
    const stats = await adapter.stats('together');
    expect(stats?.appends).toBe(1000);
    expect(stats?.commits).toBeLessThanOrEqual(2);
    expect((await readAll(wal, adapter)).map(seqOf)).toEqual(ids.map((_, i) => i));
    await opener.close();
  });

  it('a batch never carries more than maxBatchBytes (unless one record alone is larger)', async () => {
    const adapter = localAdapter(fresh({ maxBatchBytes: 1024 }));
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('small-batches', 1n) });
    // Records of ~300 bytes: at most three fit in a 1 KiB batch, so 30 of them take at least 10 commits.
    await Promise.all(Array.from({ length: 30 }, (_, i) => wal.append(message(i, 260))));
    expect((await adapter.stats('small-batches'))?.commits).toBeGreaterThanOrEqual(10);
    await opener.close();
  });
});

describe('durability', () => {
  /** What happened, in order: writes and fdatasyncs that finished, and appends that resolved. */
  async function recordEvents(): Promise<string[]> {
    const events: string[] = [];
    const proto = await fileHandlePrototype();
    const writev = proto.writev;
    const datasync = proto.datasync;
    vi.spyOn(proto, 'writev').mockImplementation(async function (this: FileHandle, ...args) {
      const result = await writev.apply(this, args);
      events.push('write');
      return result;
    });
    vi.spyOn(proto, 'datasync').mockImplementation(async function (this: FileHandle) {
      await datasync.apply(this);
      events.push('sync');
    });
    return events;
  }

  it('fsync: every append resolves after an fdatasync that finished after its write', async () => {
    const events = await recordEvents();
    const opener = await localAdapter(fresh()).build();
    const wal = await opener.open({ channel: pchannel('fsynced', 1n) });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => wal.append(message(i)).then(() => events.push(`resolved ${i}`))),
    );
    for (const [at, event] of events.entries()) {
      if (!event.startsWith('resolved')) continue;
      const lastWrite = events.lastIndexOf('write', at);
      expect(lastWrite, `${event} before any write`).toBeGreaterThanOrEqual(0);
      expect(events.slice(lastWrite, at), `${event} without an fdatasync after its write`).toContain('sync');
    }
    await opener.close();
  });

  it('interval: an append resolves once written, and an fdatasync follows without another append', async () => {
    const events = await recordEvents();
    const opener = await localAdapter(fresh({ durability: 'interval', syncIntervalMs: 20 })).build();
    const wal = await opener.open({ channel: pchannel('interval', 1n) });
    await wal.append(message(0)).then(() => events.push('resolved'));
    // Resolved right after its write, before any fdatasync.
    expect(events.slice(-2)).toEqual(['write', 'resolved']);
    await within(
      (async () => {
        while (!events.slice(events.indexOf('resolved')).includes('sync')) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })(),
      10_000,
      'the interval fdatasync',
    );
    await opener.close();
  });

  it('none: appends run no fdatasync; closing syncs what was written', async () => {
    const events = await recordEvents();
    const opener = await localAdapter(fresh({ durability: 'none' })).build();
    const wal = await opener.open({ channel: pchannel('none', 1n) });
    await wal.append(message(0)); // creates the segment (its header is synced)
    const syncs = events.filter((event) => event === 'sync').length;
    await Promise.all(Array.from({ length: 20 }, (_, i) => wal.append(message(i + 1))));
    expect(events.filter((event) => event === 'sync').length).toBe(syncs);
    await opener.close();
    expect(events.filter((event) => event === 'sync').length).toBe(syncs + 1);
  });
});

describe('terms on disk', () => {
  it('a read-write open below the stored term is CHANNEL_FENCED, also after a restart', async () => {
    const options = fresh();
    const first = await localAdapter(options).build();
    const wal = await first.open({ channel: pchannel('termed', 5n) });
    await wal.append(message(0));
    await rejectsWith(first.open({ channel: pchannel('termed', 4n) }), 'CHANNEL_FENCED');
    await first.close();

    const restarted = await localAdapter(options).build();
    const error = await rejectsWith(restarted.open({ channel: pchannel('termed', 3n) }), 'CHANNEL_FENCED');
    expect(error.message).toContain('fenced by term 5');
    expect(error.retriable).toBe(false);
    // The same term, a higher one, and read-only at any term open.
    await (await restarted.open({ channel: pchannel('termed', 5n) })).close();
    await (await restarted.open({ channel: pchannel('termed', 1n, 'ro') })).close();
    const higher = await restarted.open({ channel: pchannel('termed', 6n) });
    expect((await higher.append(message(1))).marshal()).toBe('1');
    await restarted.close();
  });

  it('an append queued at term T when T+1 opens is rejected CHANNEL_FENCED and not written', async () => {
    const adapter = localAdapter(fresh());
    const opener = await adapter.build();
    const old = await opener.open({ channel: pchannel('queued', 1n) });
    await old.append(message(0)); // the segment exists, its writer is open
    // Hold the next fdatasync (the commit of the append below) until term 2 is open.
    const proto = await fileHandlePrototype();
    const datasync = proto.datasync;
    let entered!: () => void;
    const inCommit = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    vi.spyOn(proto, 'datasync').mockImplementationOnce(async function (this: FileHandle) {
      entered();
      await gate;
      await datasync.apply(this);
    });
    const committing = old.append(message(1));
    await inCommit;
    const queued = rejectsWith(old.append(message(2)), 'CHANNEL_FENCED'); // waits for that commit
    const successor = await opener.open({ channel: pchannel('queued', 2n) });
    release();
    await committing;
    await queued;
    await successor.append(message(3));
    expect((await readAll(successor, adapter)).map(seqOf)).toEqual([0, 1, 3]);
    await opener.close();
  });
});

describe('appends the adapter refuses', () => {
  it('a record larger than maxRecordBytes, or a property with a lone surrogate, is INVALID_ARGUMENT and writes nothing', async () => {
    const adapter = localAdapter(fresh({ maxRecordBytes: 1024 }));
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('refused', 1n) });
    const tooLarge = await rejectsWith(wal.append(message(0, 2000)), 'INVALID_ARGUMENT');
    expect(tooLarge.message).toContain('maxRecordBytes');
    expect(tooLarge.details.written).toBe(false);
    const surrogate = await rejectsWith(
      wal.append(new MutableMessage(new Uint8Array(), { note: 'half \ud83d' })),
      'INVALID_ARGUMENT',
    );
    expect(surrogate.message).toContain('"note"');
    expect((await wal.append(message(1))).marshal()).toBe('0');
    await opener.close();
  });

  it('an append aborted while it waits for the writer rejects ABORTED and is not written', async () => {
    const adapter = localAdapter(fresh());
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('aborted', 1n) });
    const first = wal.append(message(0));
    const controller = new AbortController();
    const second = wal.append(message(1), { signal: controller.signal });
    controller.abort();
    await rejectsWith(second, 'ABORTED');
    await first;
    await wal.append(message(2));
    expect((await readAll(wal, adapter)).map(seqOf)).toEqual([0, 2]);
    await opener.close();
  });
});

describe('a failed write', () => {
  it('stops the log until it is opened again: the append rejects UNAVAILABLE, later ones too, and a reopen goes on', async () => {
    const options = fresh();
    const adapter = localAdapter(options);
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('eio', 1n) });
    await wal.append(message(0));
    const proto = await fileHandlePrototype();
    vi.spyOn(proto, 'writev').mockRejectedValueOnce(Object.assign(new Error('i/o error'), { code: 'EIO' }));
    const failed = await rejectsWith(wal.append(message(1)), 'UNAVAILABLE');
    expect(failed.retriable).toBe(false);
    expect(failed.message).toContain('i/o error');
    expect(failed.details.written).toBeUndefined(); // nobody can tell
    const after = await rejectsWith(wal.append(message(2)), 'UNAVAILABLE');
    expect(after.details.written).toBe(false);
    await opener.close();

    const again = localAdapter(options);
    const reopened = await again.build();
    const wal2 = await reopened.open({ channel: pchannel('eio', 2n) });
    expect((await wal2.append(message(3))).marshal()).toBe('1');
    expect((await readAll(wal2, again)).map(seqOf)).toEqual([0, 3]);
    await reopened.close();
  });
});

describe('one directory in one process', () => {
  it('openers of a directory share its logs; another opener with other options is INVALID_ARGUMENT', async () => {
    const options = fresh();
    const a = await localAdapter(options).build();
    const b = await localAdapter(options).build();
    const writer = await a.open({ channel: pchannel('shared', 1n) });
    const reader = await b.open({ channel: pchannel('shared', 1n, 'ro') });
    const scanner = await reader.read({ name: 'tail', deliverPolicy: DeliverPolicy.latest() });
    const id: MessageID = await writer.append(message(7));
    const [seen] = await take(scanner, 1);
    expect(seen?.id.compare(id)).toBe(0);
    await rejectsWith(localAdapter({ ...options, durability: 'none' }).build(), 'INVALID_ARGUMENT');
    await a.close();
    await b.close();
  });

  it('pchannel names of any characters get directories of their own, names differing in case too', async () => {
    const options = fresh();
    const opener = await localAdapter(options).build();
    const names = ['Orders', 'orders', 'a/b', '..', 'ünï 🚀', '%41'];
    for (const [i, name] of names.entries())
      await (await opener.open({ channel: pchannel(name, 1n) })).append(message(i));
    await opener.close();
    const directories = (await readdir(options.directory)).filter((entry) => !entry.startsWith('LOCK'));
    expect(directories.sort()).toEqual(
      ['%2E%2E', '%2541', '%4Frders', 'a%2Fb', 'orders', '%C3%BCn%C3%AF%20%F0%9F%9A%80'].sort(),
    );
    const again = localAdapter(options);
    const reopened = await again.build();
    for (const [i, name] of names.entries()) {
      const wal = await reopened.open({ channel: pchannel(name, 1n, 'ro') });
      expect((await readAll(wal, again)).map(seqOf)).toEqual([i]);
    }
    await reopened.close();
  });
});
