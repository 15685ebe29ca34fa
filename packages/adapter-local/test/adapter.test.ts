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

  it('a write never carries more than maxBatchBytes (unless one record alone is larger)', async () => {
    const events = await recordDisk();
    const adapter = localAdapter(fresh({ maxBatchBytes: 1024 }));
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('small-batches', 1n) });
    // Records of ~300 bytes: at most three fit in 1 KiB, so 30 of them take at least 10 writes.
    await Promise.all(Array.from({ length: 30 }, (_, i) => wal.append(message(i, 260))));
    await wal.append(message(30, 3000)); // alone larger than a batch
    const writes = events.filter(
      (event) => event.kind === 'write' && event.offsets.length > 0,
    ) as DiskWrite[];
    expect(writes.length).toBeGreaterThanOrEqual(11);
    for (const write of writes) if (write.offsets.length > 1) expect(write.bytes).toBeLessThanOrEqual(1024);
    expect(writes.flatMap((write) => write.offsets)).toEqual(Array.from({ length: 31 }, (_, i) => i));
    await opener.close();
  });
});

interface DiskWrite {
  readonly kind: 'write';
  readonly handle: FileHandle;
  /** The offsets of the records in the written bytes (none for a segment header). */
  readonly offsets: number[];
  readonly bytes: number;
}
type DiskEvent =
  | DiskWrite
  | { readonly kind: 'sync-start' | 'sync-end'; readonly handle: FileHandle }
  | { readonly kind: 'resolved'; readonly offset: number };

/** The record offsets in bytes that are whole records back to back (a segment header has none). */
function recordOffsets(pieces: readonly Uint8Array[]): number[] {
  const bytes = Buffer.concat(pieces);
  if (bytes.subarray(0, 8).toString('latin1') === 'WSLOGSEG') return [];
  const offsets: number[] = [];
  for (let at = 0; at + 16 <= bytes.length; at += 8 + bytes.readUInt32LE(at)) {
    offsets.push(bytes.readUInt32LE(at + 8) + bytes.readUInt32LE(at + 12) * 2 ** 32);
  }
  return offsets;
}

/** Records, in order, every write (with the records it carried) and fdatasync the adapter makes. */
async function recordDisk(): Promise<DiskEvent[]> {
  const events: DiskEvent[] = [];
  const proto = await fileHandlePrototype();
  const { write, writev, datasync } = proto;
  vi.spyOn(proto, 'write').mockImplementation(async function (this: FileHandle, ...args: unknown[]) {
    const [buffer, offset, length] = args as [Uint8Array, number | undefined, number | undefined];
    const result = await (write as (...a: unknown[]) => Promise<{ bytesWritten: number }>).apply(this, args);
    if (buffer instanceof Uint8Array) {
      const piece = buffer.subarray(offset ?? 0, (offset ?? 0) + (length ?? buffer.length));
      events.push({ kind: 'write', handle: this, offsets: recordOffsets([piece]), bytes: piece.length });
    }
    return result as never;
  });
  vi.spyOn(proto, 'writev').mockImplementation(async function (this: FileHandle, buffers, position) {
    const result = await writev.call(this, buffers, position);
    const bytes = buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
    events.push({ kind: 'write', handle: this, offsets: recordOffsets(buffers as Uint8Array[]), bytes });
    return result;
  });
  vi.spyOn(proto, 'datasync').mockImplementation(async function (this: FileHandle) {
    events.push({ kind: 'sync-start', handle: this });
    await datasync.call(this);
    events.push({ kind: 'sync-end', handle: this });
  });
  return events;
}

describe('durability', () => {
  it('fsync: every append resolves after an fdatasync that started after its write finished', async () => {
    const events = await recordDisk();
    const opener = await localAdapter(fresh({ maxBatchBytes: 4096 })).build();
    const wal = await opener.open({ channel: pchannel('fsynced', 1n) });
    const ids = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const id = await wal.append(message(i));
        events.push({ kind: 'resolved', offset: Number(id.marshal()) });
        return id;
      }),
    );
    expect(ids).toHaveLength(200);
    let writesSeen = 0;
    for (const [at, event] of events.entries()) {
      if (event.kind !== 'resolved') continue;
      const written = events.findIndex((e) => e.kind === 'write' && e.offsets.includes(event.offset));
      expect(written, `record ${event.offset} resolved before it was written`).toBeGreaterThanOrEqual(0);
      expect(written).toBeLessThan(at);
      const { handle } = events[written] as DiskWrite;
      const start = events.findIndex((e, i) => i > written && e.kind === 'sync-start' && e.handle === handle);
      const end = events.findIndex((e, i) => i > start && e.kind === 'sync-end' && e.handle === handle);
      expect(start, `no fdatasync started after record ${event.offset} was written`).toBeGreaterThan(written);
      expect(end, `record ${event.offset} resolved before the fdatasync after its write ended`).toBeLessThan(
        at,
      );
      writesSeen++;
    }
    expect(writesSeen).toBe(200);
    // Group commit with a pipeline: fewer fdatasyncs than writes, and fewer writes than appends.
    const writes = events.filter((e) => e.kind === 'write' && e.offsets.length > 0).length;
    expect(writes).toBeLessThan(200);
    await opener.close();
  });

  it('interval: an append resolves once written, and an fdatasync follows without another append', async () => {
    const events = await recordDisk();
    const opener = await localAdapter(fresh({ durability: 'interval', syncIntervalMs: 20 })).build();
    const wal = await opener.open({ channel: pchannel('interval', 1n) });
    const id = await wal.append(message(0));
    events.push({ kind: 'resolved', offset: Number(id.marshal()) });
    // Resolved right after its write, before any fdatasync.
    expect(events.slice(-2).map((event) => event.kind)).toEqual(['write', 'resolved']);
    const resolvedAt = events.length - 1;
    await within(
      (async () => {
        while (!events.slice(resolvedAt).some((event) => event.kind === 'sync-end')) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })(),
      10_000,
      'the interval fdatasync',
    );
    await opener.close();
  });

  it('none: appends run no fdatasync of the segment; closing syncs what was written', async () => {
    const events = await recordDisk();
    const opener = await localAdapter(fresh({ durability: 'none' })).build();
    const wal = await opener.open({ channel: pchannel('none', 1n) });
    await wal.append(message(0));
    const segment = (events.find((event) => event.kind === 'write' && event.offsets.length > 0) as DiskWrite)
      .handle;
    const syncs = () =>
      events.filter((event) => event.kind === 'sync-end' && event.handle === segment).length;
    const before = syncs();
    await Promise.all(Array.from({ length: 20 }, (_, i) => wal.append(message(i + 1))));
    expect(syncs()).toBe(before);
    await opener.close();
    expect(syncs()).toBe(before + 1);
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
    // Hold the next write (of the append below) until term 2 is open: the append after it waits in the queue.
    const proto = await fileHandlePrototype();
    const write = proto.write as (...args: unknown[]) => Promise<unknown>;
    let entered!: () => void;
    const inCommit = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    vi.spyOn(proto, 'write').mockImplementationOnce(async function (this: FileHandle, ...args: unknown[]) {
      entered();
      await gate;
      return (await write.apply(this, args)) as never;
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
    vi.spyOn(proto, 'write').mockRejectedValueOnce(Object.assign(new Error('i/o error'), { code: 'EIO' }));
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

describe('a failed fdatasync', () => {
  it('fails the appends it was to make durable, not retriable and of unknown outcome; later appends fail as not written', async () => {
    const options = fresh();
    const adapter = localAdapter(options);
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('fsyncgate', 1n) });
    await wal.append(message(0));
    const proto = await fileHandlePrototype();
    vi.spyOn(proto, 'datasync').mockRejectedValueOnce(Object.assign(new Error('i/o error'), { code: 'EIO' }));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => wal.append(message(i + 1))),
    );
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      const error = (outcome as PromiseRejectedResult).reason as { code: string; retriable: boolean };
      expect(error).toMatchObject({ code: 'UNAVAILABLE', retriable: false });
    }
    // Nothing it did not make durable became visible.
    expect((await adapter.stats('fsyncgate'))?.nextOffset).toBe(1);
    expect((await rejectsWith(wal.append(message(99)), 'UNAVAILABLE')).details.written).toBe(false);
    await opener.close();
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
