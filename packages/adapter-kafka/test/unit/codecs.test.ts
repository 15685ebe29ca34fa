/// <reference path="../../src/codecs/vendor.d.ts" />
import { randomBytes } from 'node:crypto';
import { WalError } from '@walstream/core';
import * as snappy from 'snappyjs';
import { describe, expect, test } from 'vitest';
import { installKafkaJsCodecs, installPlatformaticCodecs } from '../../src/codecs/drivers.js';
import { CODECS, type KafkaCodecName, prepareCompression } from '../../src/codecs/index.js';

const NAMES: readonly KafkaCodecName[] = ['gzip', 'snappy', 'lz4', 'zstd'];

describe('record-batch codecs', () => {
  test.each(NAMES)('%s: what it compresses decompresses to the same bytes', async (name) => {
    await prepareCompression(name);
    for (const data of [
      Buffer.alloc(0),
      Buffer.from('walstream '.repeat(20_000)),
      randomBytes(70_000),
      Buffer.concat([randomBytes(40_000), Buffer.alloc(90_000, 7)]),
    ]) {
      expect(CODECS[name].decompress(CODECS[name].compress(data)).equals(data)).toBe(true);
    }
  });

  test('lz4 frames declare independent blocks and a valid header checksum (what Kafka checks)', () => {
    const frame = CODECS.lz4.compress(Buffer.from('x'.repeat(200_000)));
    expect(frame.readUInt32LE(0)).toBe(0x184d2204);
    expect(frame[4]! & 0x20).toBe(0x20);
  });

  test('snappy reads the xerial framing of Java producers and a bare block', () => {
    const data = Buffer.from('snappy data '.repeat(10_000));
    const framed = CODECS.snappy.compress(data);
    expect(framed.subarray(0, 8)).toEqual(Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]));
    expect(CODECS.snappy.decompress(framed).equals(data)).toBe(true);
    expect(CODECS.snappy.decompress(Buffer.from(snappy.compress(data))).equals(data)).toBe(true);
  });

  test.each(NAMES)('%s: damaged data is a permanent malformed-payload error naming the codec', (name) => {
    let caught: unknown;
    try {
      CODECS[name].decompress(
        Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 9, 9, 1]),
      );
    } catch (error) {
      caught = error;
    }
    expect(WalError.is(caught)).toBe(true);
    const error = caught as WalError;
    expect([error.code, error.retriable]).toEqual(['UNRECOVERABLE', false]);
    expect(error.details).toMatchObject({ reason: 'malformed-payload', codec: name });
  });
});

describe('codecs handed to the client libraries', () => {
  test("kafkajs's placeholders are replaced; a codec the application registered stays", async () => {
    interface Codec {
      compress(encoder: { buffer: Buffer }): Promise<Buffer>;
      decompress(buffer: Buffer): Promise<Buffer>;
    }
    const own: Codec = { compress: async () => Buffer.alloc(0), decompress: async () => Buffer.alloc(0) };
    const registry = {
      CompressionTypes: { GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 },
      CompressionCodecs: {
        1: () => own,
        2: () => {
          throw new Error('Snappy compression not implemented');
        },
        3: () => own,
      } as Record<number, () => unknown>,
    };
    installKafkaJsCodecs(registry);
    expect(registry.CompressionCodecs[3]!()).toBe(own);
    const snappyCodec = registry.CompressionCodecs[2]!() as Codec;
    const zstdCodec = registry.CompressionCodecs[4]!() as Codec;
    const data = Buffer.from('kafkajs '.repeat(100));
    expect((await snappyCodec.decompress(CODECS.snappy.compress(data))).equals(data)).toBe(true);
    await prepareCompression('zstd');
    expect((await zstdCodec.decompress(CODECS.zstd.compress(data))).equals(data)).toBe(true);
  });

  test('kafkajs imported from ESM (codec table only on its default export) gets the codecs too', async () => {
    // Node's ESM namespace of kafkajs (a CommonJS module) lacks CompressionCodecs; vitest's interop has it.
    const cjs = {
      CompressionTypes: { GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 },
      CompressionCodecs: {} as Record<number, () => unknown>,
    };
    installKafkaJsCodecs({ Kafka: class {}, default: cjs });
    const lz4Codec = cjs.CompressionCodecs[3]!() as { decompress(b: Buffer): Promise<Buffer> };
    const data = Buffer.from('esm '.repeat(100));
    expect((await lz4Codec.decompress(CODECS.lz4.compress(data))).equals(data)).toBe(true);
  });

  test('@platformatic/kafka gets snappy that reads xerial frames, and zstd only where it has none', () => {
    const theirs = (): {
      compressSync(d: Buffer): Buffer;
      decompressSync(d: Buffer): Buffer;
      available: boolean;
    } => ({
      compressSync: () => Buffer.alloc(0),
      decompressSync: () => Buffer.alloc(0),
      available: false,
    });
    const lz4 = { ...theirs(), available: true };
    const zstd = { ...theirs(), available: true };
    const module = { compressionsAlgorithms: { snappy: theirs(), lz4, zstd } };
    installPlatformaticCodecs(module);
    const data = Buffer.from('platformatic '.repeat(100));
    expect(
      module.compressionsAlgorithms.snappy.decompressSync(CODECS.snappy.compress(data)).equals(data),
    ).toBe(true);
    expect(module.compressionsAlgorithms.lz4).toBe(lz4);
    expect(module.compressionsAlgorithms.zstd.decompressSync(Buffer.alloc(1)).length).toBe(0);
    const missing = { compressionsAlgorithms: { zstd: theirs() } };
    installPlatformaticCodecs(missing);
    expect(missing.compressionsAlgorithms.zstd.available).toBe(true);
  });
});
