import { randomBytes } from 'node:crypto';
import { constants, deflateSync } from 'node:zlib';
import { WalError } from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  COMPRESSION_TYPES,
  compressPayload,
  decompressPayload,
  type PulsarCompression,
  prepareCompression,
} from '../../src/codecs/index.js';
import { ChunkAssembler } from '../../src/protocol/chunks.js';
import type { MessageIdData } from '../../src/protocol/commands.js';
import type { IncomingMetadata } from '../../src/protocol/metadata.js';

const CODECS: readonly PulsarCompression[] = ['lz4', 'zlib', 'zstd', 'snappy'];

function caught(run: () => unknown): WalError {
  try {
    run();
  } catch (error) {
    if (WalError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a WalError');
}

describe('payload codecs', () => {
  test.each(CODECS)('%s: what it compresses inflates to the same bytes', async (codec) => {
    await prepareCompression(codec);
    for (const payload of [
      new TextEncoder().encode('walstream '.repeat(500)),
      new Uint8Array(70_000).map((_, i) => i % 7),
    ]) {
      const sent = compressPayload(codec, payload);
      expect(sent.type).toBe(COMPRESSION_TYPES[codec]);
      expect(sent.payload.length).toBeLessThan(payload.length);
      expect(Buffer.from(decompressPayload(sent.type, sent.payload, payload.length))).toEqual(
        Buffer.from(payload),
      );
    }
  });

  test.each(CODECS)('%s: a payload that does not shrink is sent uncompressed', async (codec) => {
    await prepareCompression(codec);
    const payload = randomBytes(300);
    expect(compressPayload(codec, payload)).toEqual({ type: 0, payload });
  });

  test('ZLIB ending in a sync flush (as Java writes it) inflates exactly', () => {
    const data = Buffer.from('java deflater '.repeat(100));
    const flushed = deflateSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
    expect(Buffer.from(decompressPayload(COMPRESSION_TYPES.zlib, flushed, data.length))).toEqual(data);
  });

  test.each(CODECS)('%s: damaged bytes are a permanent malformed-payload error naming the codec', (codec) => {
    const error = caught(() =>
      decompressPayload(COMPRESSION_TYPES[codec], new Uint8Array([0xff, 0xfe, 1, 2, 3]), 100),
    );
    expect(error.code).toBe('UNRECOVERABLE');
    expect(error.retriable).toBe(false);
    expect(error.details).toMatchObject({ reason: 'malformed-payload', codec });
  });

  test('a size that does not match the metadata is malformed; an absurd one is refused before allocating', () => {
    const data = new TextEncoder().encode('x'.repeat(1000));
    const sent = compressPayload('zlib', data);
    expect(caught(() => decompressPayload(sent.type, sent.payload, 999)).details.reason).toBe(
      'malformed-payload',
    );
    expect(caught(() => decompressPayload(COMPRESSION_TYPES.lz4, sent.payload, 2 ** 32)).message).toMatch(
      /claims to inflate/,
    );
  });

  test('an unknown compression type is a permanent unsupported-codec error', () => {
    const error = caught(() => decompressPayload(9, new Uint8Array(4), 4));
    expect(error.code).toBe('UNRECOVERABLE');
    expect(error.retriable).toBe(false);
    expect(error.details).toMatchObject({ reason: 'unsupported-codec', codec: 'compression type 9' });
  });
});

function chunkOf(uuid: string, chunkId: number, numChunks: number, totalSize: number): IncomingMetadata {
  return {
    producerName: 'p',
    sequenceId: 0n,
    publishTime: 0,
    properties: {},
    compression: 0,
    uncompressedSize: totalSize,
    numMessagesInBatch: undefined,
    encrypted: false,
    chunk: { uuid, chunkId, numChunks, totalSize },
    markerType: undefined,
  };
}

function idAt(entry: number): MessageIdData {
  return { ledgerId: 1n, entryId: BigInt(entry), partition: -1, batchIndex: -1, batchSize: 0 };
}

describe('chunk reassembly', () => {
  test('interleaved chunked messages come out whole, each at its last chunk, in last-chunk order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 }),
        fc.infiniteStream(fc.nat()),
        (chunkCounts, picks) => {
          // Each message's chunks in order; messages interleaved at random.
          const queues = chunkCounts.map((n, m) => Array.from({ length: n }, (_, c) => ({ m, c, n })));
          const assembler = new ChunkAssembler(1 << 20);
          const out: { m: number; entry: number; text: string }[] = [];
          const lastEntry: number[] = [];
          const it = picks[Symbol.iterator]();
          let entry = 0;
          while (queues.some((q) => q.length > 0)) {
            const open = queues.filter((q) => q.length > 0);
            const { m, c, n } = open[it.next().value % open.length]!.shift()!;
            const piece = new TextEncoder().encode(`${m}.${c};`);
            const total = Array.from({ length: n }, (_, k) => `${m}.${k};`).join('').length;
            if (n === 1) {
              lastEntry[m] = entry++;
              out.push({ m, entry: lastEntry[m]!, text: `${m}.0;` });
              continue;
            }
            const whole = assembler.add(chunkOf(`u${m}`, c, n, total), piece, idAt(entry));
            if (c === n - 1) lastEntry[m] = entry;
            if (whole)
              out.push({ m, entry: Number(whole.id.entryId), text: new TextDecoder().decode(whole.payload) });
            entry++;
          }
          expect(out.map((o) => o.m).sort()).toEqual(chunkCounts.map((_, m) => m));
          for (const o of out) {
            expect(o.text).toBe(Array.from({ length: chunkCounts[o.m]! }, (_, k) => `${o.m}.${k};`).join(''));
            expect(o.entry).toBe(lastEntry[o.m]);
          }
          expect(out.map((o) => o.entry)).toEqual([...out.map((o) => o.entry)].sort((a, b) => a - b));
          expect(assembler.heldBytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a message without its first chunk, or with one out of sequence, is dropped and counted', () => {
    const assembler = new ChunkAssembler(1 << 20);
    expect(assembler.add(chunkOf('a', 1, 2, 2), new Uint8Array(1), idAt(1))).toBeUndefined();
    expect(assembler.add(chunkOf('b', 0, 3, 3), new Uint8Array(1), idAt(2))).toBeUndefined();
    expect(assembler.add(chunkOf('b', 2, 3, 3), new Uint8Array(1), idAt(3))).toBeUndefined();
    expect(assembler.dropped).toBe(2);
    expect(assembler.heldBytes).toBe(0);
  });

  test('the memory bound evicts the oldest incomplete message; one larger than it is refused', () => {
    const assembler = new ChunkAssembler(10);
    assembler.add(chunkOf('a', 0, 2, 6), new Uint8Array(3), idAt(1));
    assembler.add(chunkOf('b', 0, 2, 6), new Uint8Array(3), idAt(2));
    expect(assembler.dropped).toBe(1);
    expect(assembler.heldBytes).toBe(6);
    const whole = assembler.add(chunkOf('b', 1, 2, 6), new Uint8Array(3), idAt(3));
    expect(whole?.payload.length).toBe(6);
    const error = caught(() => assembler.add(chunkOf('c', 0, 2, 11), new Uint8Array(3), idAt(4)));
    expect(error.retriable).toBe(false);
    expect(error.details.option).toBe('maxChunkedMessageBytes');
  });

  test('a restart forgets incomplete messages and names the first chunk of the oldest', () => {
    const assembler = new ChunkAssembler(100);
    assembler.add(chunkOf('a', 0, 2, 2), new Uint8Array(1), idAt(5));
    assembler.add(chunkOf('b', 0, 2, 2), new Uint8Array(1), idAt(6));
    expect(assembler.restart()).toEqual(idAt(5));
    expect(assembler.heldBytes).toBe(0);
    expect(assembler.restart()).toBeUndefined();
  });
});
