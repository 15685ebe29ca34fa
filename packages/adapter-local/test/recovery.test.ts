import { cp, readdir, readFile, rename, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LocalAdapter, type LocalAdapterOptions, localAdapter } from '@walstream/adapter-local';
import { DeliverPolicy, pchannel, type WalError } from '@walstream/core';
import { createObservability } from '@walstream/core/spi';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  countingMeterProvider,
  message,
  readAll,
  rejectsWith,
  scratchDirectory,
  seqOf,
  take,
} from './helpers.js';

const root = scratchDirectory('recovery');
const CHANNEL = 'orders';
let copies = 0;

/** The segment files of the pchannel in `directory`, oldest first. */
async function segmentFiles(directory: string): Promise<string[]> {
  return (await readdir(join(directory, CHANNEL)))
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => join(directory, CHANNEL, name));
}

/** Where each record of a segment file starts and ends, walked by the length fields (the test's own parse). */
async function recordSpans(file: string): Promise<{ start: number; end: number }[]> {
  const bytes = await readFile(file);
  const spans: { start: number; end: number }[] = [];
  let at = bytes.readUInt16LE(10); // header length
  while (at < bytes.length) {
    const end = at + 8 + bytes.readUInt32LE(at);
    spans.push({ start: at, end });
    at = end;
  }
  return spans;
}

/** Writes `count` messages (seq 0..count-1) into a new directory and closes it. */
async function prepare(
  label: string,
  count: number,
  options: Partial<LocalAdapterOptions> = {},
): Promise<string> {
  const directory = join(root, label);
  const opener = await localAdapter({ directory, ...options }).build();
  const wal = await opener.open({ channel: pchannel(CHANNEL, 1n) });
  await Promise.all(Array.from({ length: count }, (_, i) => wal.append(message(i, 40 + ((i * 37) % 200)))));
  await opener.close();
  return directory;
}

async function copyOf(source: string): Promise<string> {
  const target = join(root, `copy-${++copies}`);
  await cp(source, target, { recursive: true });
  return target;
}

interface Opened {
  readonly adapter: LocalAdapter;
  readonly lines: LogLine[];
  readonly counts: Map<string, number>;
  close(): Promise<void>;
  readonly wal: Awaited<ReturnType<Awaited<ReturnType<LocalAdapter['build']>>['open']>>;
}

async function reopen(directory: string, options: Partial<LocalAdapterOptions> = {}): Promise<Opened> {
  const lines: LogLine[] = [];
  const { provider, counts } = countingMeterProvider();
  const adapter = localAdapter({ directory, ...options });
  const opener = await adapter.build({
    observability: createObservability({ logger: recordingLogger(lines), meterProvider: provider }),
  });
  try {
    const wal = await opener.open({ channel: pchannel(CHANNEL, 2n) });
    return { adapter, lines, counts, wal, close: () => opener.close() };
  } catch (error) {
    await opener.close();
    throw error;
  }
}

async function openFails(directory: string, options: Partial<LocalAdapterOptions> = {}): Promise<WalError> {
  return rejectsWith(reopen(directory, options), 'UNRECOVERABLE');
}

describe('a torn tail is cut on open, counted and logged; nothing before it is lost', () => {
  const COUNT = 12;
  let source: string;
  let spans: { start: number; end: number }[];
  let size: number;
  beforeAll(async () => {
    source = await prepare('torn', COUNT);
    const [file] = await segmentFiles(source);
    spans = await recordSpans(file!);
    size = (await stat(file!)).size;
  });

  it('at any cut inside the last records, the whole records before the cut stay and appends go on after them', async () => {
    const seen = { 'inside a length or CRC': 0, 'inside a body': 0, 'at a record boundary': 0 };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: spans[COUNT - 3]!.start, max: size - 1 }), async (length) => {
        const kept = spans.filter((span) => span.end <= length).length;
        const partial = spans[kept];
        if (partial === undefined || length === partial.start) seen['at a record boundary']++;
        else if (length - partial.start < 8) seen['inside a length or CRC']++;
        else seen['inside a body']++;
        const directory = await copyOf(source);
        const [file] = await segmentFiles(directory);
        await truncate(file!, length);

        const opened = await reopen(directory);
        try {
          const wholeEnd = kept === 0 ? spans[0]!.start : spans[kept - 1]!.end;
          const stats = (await opened.adapter.stats(CHANNEL))!;
          expect(stats.nextOffset).toBe(kept);
          if (length === wholeEnd) {
            expect(stats.recovery.cut).toBeUndefined();
            expect(opened.counts.get('walstream.local.recovery.cuts')).toBeUndefined();
          } else {
            expect(stats.recovery.cut).toMatchObject({ file, position: wholeEnd, bytes: length - wholeEnd });
            expect(opened.counts.get('walstream.local.recovery.cuts')).toBe(1);
            expect(opened.counts.get('walstream.local.recovery.cut_bytes')).toBe(length - wholeEnd);
            const warning = opened.lines.find((line) => line.level === 'warn');
            expect(warning?.message).toContain('cut a torn tail');
            expect(warning?.fields).toMatchObject({ pchannel: CHANNEL, file, position: wholeEnd });
          }
          expect((await stat(file!)).size).toBe(wholeEnd);
          expect((await opened.wal.append(message(100))).marshal()).toBe(String(kept));
          expect((await readAll(opened.wal, opened.adapter)).map(seqOf)).toEqual([
            ...Array.from({ length: kept }, (_, i) => i),
            100,
          ]);
        } finally {
          await opened.close();
        }
      }),
      { numRuns: 25, examples: [[spans[COUNT - 1]!.start], [spans[COUNT - 1]!.start + 3], [size - 1]] },
    );
    for (const [kind, count] of Object.entries(seen)) expect(count, kind).toBeGreaterThan(0);
  });

  it('zeros after the last record (room the file system gave before a crash) are cut', async () => {
    const directory = await copyOf(source);
    const [file] = await segmentFiles(directory);
    await writeFile(file!, Buffer.alloc(4096), { flag: 'a' });
    const opened = await reopen(directory);
    try {
      expect((await opened.adapter.stats(CHANNEL))?.recovery.cut).toMatchObject({
        position: size,
        bytes: 4096,
      });
      expect((await readAll(opened.wal, opened.adapter)).map(seqOf)).toEqual(
        Array.from({ length: COUNT }, (_, i) => i),
      );
    } finally {
      await opened.close();
    }
  });
});

describe('a damaged record', () => {
  const COUNT = 10;
  let source: string;
  let spans: { start: number; end: number }[];

  beforeAll(async () => {
    source = await prepare('flipped', COUNT);
    spans = await recordSpans((await segmentFiles(source))[0]!);
  });

  it('at the end of the last segment is cut; earlier in it is UNRECOVERABLE naming the file and byte, and nothing is cut', async () => {
    const seen = { 'the last record': 0, 'an earlier record': 0 };
    const first = spans[0]!.start * 8;
    const end = spans[COUNT - 1]!.end * 8;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: first, max: end - 1 }), async (bit) => {
        const directory = await copyOf(source);
        const [file] = await segmentFiles(directory);
        const bytes = await readFile(file!);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        await writeFile(file!, bytes);
        const damaged = spans.findIndex((span) => span.start <= bit >> 3 && bit >> 3 < span.end);
        if (damaged === COUNT - 1) {
          seen['the last record']++;
          const opened = await reopen(directory);
          try {
            expect((await opened.adapter.stats(CHANNEL))?.recovery.cut).toMatchObject({
              position: spans[damaged]!.start,
            });
            expect((await readAll(opened.wal, opened.adapter)).map(seqOf)).toEqual(
              Array.from({ length: COUNT - 1 }, (_, i) => i),
            );
          } finally {
            await opened.close();
          }
        } else {
          seen['an earlier record']++;
          const error = await openFails(directory);
          expect(error.details).toMatchObject({ file, position: spans[damaged]!.start, channel: CHANNEL });
          expect(error.message).toContain(file!);
          expect(error.message).toContain(`byte ${spans[damaged]!.start}`);
          expect(error.retriable).toBe(false);
          expect((await readFile(file!)).equals(bytes)).toBe(true);
        }
      }),
      {
        numRuns: 30,
        examples: [
          [spans[COUNT - 1]!.start * 8 + 70],
          [spans[2]!.start * 8 + 3],
          [spans[4]!.start * 8 + 100],
        ],
      },
    );
    for (const [where, count] of Object.entries(seen)) expect(count, where).toBeGreaterThan(0);
  });

  it('in a sealed segment fails its reader UNRECOVERABLE naming the file and byte, after the records before it', async () => {
    const source2 = await prepare('sealed', 30, { segmentBytes: 2048 });
    const directory = await copyOf(source2);
    const [first] = await segmentFiles(directory);
    const firstSpans = await recordSpans(first!);
    const victim = firstSpans[3]!;
    const bytes = await readFile(first!);
    bytes[victim.start + 20]! ^= 0x10;
    await writeFile(first!, bytes);

    const opened = await reopen(directory, { segmentBytes: 2048 });
    try {
      const scanner = await opened.wal.read({ name: 'all', deliverPolicy: DeliverPolicy.all() });
      expect((await take(scanner, 3)).map(seqOf)).toEqual([0, 1, 2]);
      const failure = await rejectsWith(scanner[Symbol.asyncIterator]().next(), 'UNRECOVERABLE');
      expect(failure.details).toMatchObject({ file: first, position: victim.start });
      expect(await scanner.done).toBe(failure);
      // A reader that starts after the damage reads on.
      const later = await opened.wal.read({
        name: 'later',
        deliverPolicy: DeliverPolicy.startFrom(spanId(firstSpans.length)),
      });
      expect(seqOf((await take(later, 1))[0]!)).toBe(firstSpans.length);
      await later.close();
    } finally {
      await opened.close();
    }
    // Without its index the open reads the sealed segment, and refuses.
    await unlink(first!.replace(/\.log$/, '.idx'));
    const error = await openFails(directory, { segmentBytes: 2048 });
    expect(error.details).toMatchObject({ file: first, position: victim.start });
  });
});

function spanId(offset: number) {
  return {
    walName: 'local',
    offset,
    compare: () => 0,
    marshal: () => String(offset),
    toString: () => `local:${offset}`,
  };
}

describe('what a crash between steps leaves', () => {
  it('a segment created without a whole header is removed, and the log goes on from the segment before it', async () => {
    const directory = await copyOf(await prepare('headless', 5));
    await writeFile(
      join(directory, CHANNEL, `${String(5).padStart(20, '0')}.log`),
      Buffer.from('WSLOGSEG\x01'),
    );
    const opened = await reopen(directory);
    try {
      const stats = (await opened.adapter.stats(CHANNEL))!;
      expect(stats.recovery.removedFiles).toEqual([`${String(5).padStart(20, '0')}.log`]);
      expect(stats.recovery.cut?.reason).toContain('without a whole header');
      expect((await opened.wal.append(message(5))).marshal()).toBe('5');
      expect((await readAll(opened.wal, opened.adapter)).map(seqOf)).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await opened.close();
    }
  });

  it('a next segment whose rename was lost is adopted by its first record; an unused one is removed', async () => {
    const directory = await copyOf(await prepare('renamed', 40, { segmentBytes: 2048 }));
    const files = await segmentFiles(directory);
    const last = files.at(-1)!;
    await rename(last, join(directory, CHANNEL, 'next.log'));
    const opened = await reopen(directory, { segmentBytes: 2048 });
    try {
      expect((await segmentFiles(directory)).at(-1)).toBe(last);
      expect((await readAll(opened.wal, opened.adapter)).map(seqOf)).toEqual(
        Array.from({ length: 40 }, (_, i) => i),
      );
      expect((await opened.wal.append(message(40))).marshal()).toBe('40');
    } finally {
      await opened.close();
    }
    // Made ahead and never used: a header and no record.
    await writeFile(
      join(directory, CHANNEL, 'next.log'),
      (await readFile(last)).subarray(0, (await readFile(last)).readUInt16LE(10)),
    );
    const again = await reopen(directory, { segmentBytes: 2048 });
    try {
      expect((await again.adapter.stats(CHANNEL))?.recovery.removedFiles).toContain('next.log');
      expect((await readAll(again.wal, again.adapter)).map(seqOf)).toEqual(
        Array.from({ length: 41 }, (_, i) => i),
      );
    } finally {
      await again.close();
    }
  });

  it('a missing or damaged index of a sealed segment is rebuilt from the segment', async () => {
    const directory = await copyOf(await prepare('indexes', 40, { segmentBytes: 2048 }));
    const [first, second] = (await readdir(join(directory, CHANNEL)))
      .filter((name) => name.endsWith('.idx'))
      .sort();
    await unlink(join(directory, CHANNEL, first!));
    await writeFile(join(directory, CHANNEL, second!), Buffer.from('garbage'));
    const opened = await reopen(directory, { segmentBytes: 2048 });
    try {
      expect((await opened.adapter.stats(CHANNEL))?.recovery.rebuiltIndexes).toBe(2);
      expect((await readFile(join(directory, CHANNEL, first!))).length).toBeGreaterThan(40);
      expect((await readAll(opened.wal, opened.adapter)).map(seqOf)).toEqual(
        Array.from({ length: 40 }, (_, i) => i),
      );
    } finally {
      await opened.close();
    }
  });

  it('segments below a persisted truncation point are removed on open', async () => {
    const directory = await copyOf(await prepare('truncated', 40, { segmentBytes: 2048 }));
    const files = await segmentFiles(directory);
    expect(files.length).toBeGreaterThan(3);
    const meta = JSON.parse(await readFile(join(directory, CHANNEL, 'meta.json'), 'utf8')) as {
      truncatedBefore: number;
    };
    const thirdBase = Number(files[2]!.slice(-24, -4));
    meta.truncatedBefore = thirdBase + 1;
    await writeFile(join(directory, CHANNEL, 'meta.json'), JSON.stringify(meta));
    const opened = await reopen(directory, { segmentBytes: 2048 });
    try {
      const stats = (await opened.adapter.stats(CHANNEL))!;
      expect(stats.recovery.removedFiles).toHaveLength(2);
      expect(stats.firstOffset).toBe(thirdBase + 1);
      expect((await segmentFiles(directory))[0]).toBe(files[2]);
      expect((await readAll(opened.wal, opened.adapter)).map(seqOf)[0]).toBe(thirdBase + 1);
    } finally {
      await opened.close();
    }
  });

  it('a segment of another format version is UNRECOVERABLE naming it, and left as it is', async () => {
    const directory = await copyOf(await prepare('version', 3));
    const [file] = await segmentFiles(directory);
    const bytes = await readFile(file!);
    bytes.writeUInt16LE(1, 8); // the format before the base offset left the header
    await writeFile(file!, bytes);
    const error = await openFails(directory);
    expect(error.message).toContain('segment format version 1; this adapter reads 2');
    expect(error.details.file).toBe(file);
    expect((await readFile(file!)).equals(bytes)).toBe(true);
  });

  it('a damaged meta.json is UNRECOVERABLE naming it', async () => {
    const directory = await copyOf(await prepare('meta', 1));
    await writeFile(join(directory, CHANNEL, 'meta.json'), '{"format":1,');
    const error = await openFails(directory);
    expect(error.details.file).toBe(join(directory, CHANNEL, 'meta.json'));
  });
});
