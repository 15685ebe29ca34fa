/**
 * Kafka's record-batch codecs, all pure JavaScript or WebAssembly so that Node 20 reads every batch a
 * Java producer or a topic's `compression.type` leaves in the log, with no native addon: gzip through
 * node:zlib, snappy through snappyjs (raw, or in the xerial framing Kafka's Java producer writes), lz4
 * frames through lz4js, zstd through fzstd (reading) and @bokuweb/zstd-wasm (writing, loaded on first
 * use). Both drivers are given these (see kafkajs.ts and platformatic.ts in this folder).
 *
 * A batch that does not decode is `UNRECOVERABLE` and not retriable, `details.reason: 'malformed-payload'`
 * naming the codec: the batch is stored that way and fetching it again gives the same bytes.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { WalError } from '@walstream/core';
import { compressLz4Block } from '@walstream/core/internal';
import { decompress as zstdDecompress } from 'fzstd';
import * as lz4 from 'lz4js';
import { hash as xxh32 } from 'lz4js/xxh32.js';
import * as snappy from 'snappyjs';

/** The codecs of a Kafka record batch, as the `compression` option names them. */
export type KafkaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
export type KafkaCodecName = Exclude<KafkaCompression, 'none'>;

/** The codec bits of a record batch's attributes (also kafkajs's `CompressionTypes`). */
export const KAFKA_COMPRESSION_BITS: Readonly<Record<KafkaCompression, number>> = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
};

export interface KafkaCodec {
  compress(data: Buffer): Buffer;
  decompress(data: Buffer): Buffer;
}

const MALFORMED_PREFIX = 'cannot read a Kafka record batch: ';

export function malformedBatch(codec: string, why: string, cause?: unknown): WalError {
  return new WalError('UNRECOVERABLE', `${MALFORMED_PREFIX}its ${codec} data ${why}`, {
    retriable: false,
    details: { reason: 'malformed-payload', codec },
    ...(cause === undefined ? {} : { cause }),
  });
}

const CODEC_REASONS = new Set(['malformed-payload', 'unsupported-codec']);

/**
 * The codec error somewhere in what a client library threw (its causes, and the errors of aggregate
 * errors): the libraries wrap what a codec throws.
 */
export function codecFailure(error: unknown, depth = 0): WalError | undefined {
  if (depth > 8 || typeof error !== 'object' || error === null) return undefined;
  if (WalError.is(error) && CODEC_REASONS.has(String(error.details.reason))) return error;
  // kafkajs rethrows a codec's error as KafkaJSNonRetriableError with its message (and its cause, not it).
  const { name, message } = error as { name?: unknown; message?: unknown };
  if (
    name === 'KafkaJSNonRetriableError' &&
    typeof message === 'string' &&
    message.startsWith(MALFORMED_PREFIX)
  ) {
    return new WalError('UNRECOVERABLE', message, {
      retriable: false,
      details: { reason: 'malformed-payload' },
      cause: error,
    });
  }
  const nested = error as { cause?: unknown; errors?: unknown };
  const fromCause = codecFailure(nested.cause, depth + 1);
  if (fromCause) return fromCause;
  if (Array.isArray(nested.errors)) {
    for (const inner of nested.errors) {
      const found = codecFailure(inner, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `\x82SNAPPY\0`: the xerial snappy-java stream header Kafka's Java producer writes. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER = 16;
const XERIAL_BLOCK = 32 * 1024;

/** Snappy as Kafka's Java producer writes it: xerial blocks `[u32 length][raw snappy]` after a header. */
function snappyFramed(data: Buffer): Buffer {
  const parts: Buffer[] = [XERIAL_MAGIC, Buffer.from([0, 0, 0, 1, 0, 0, 0, 1])];
  for (let at = 0; at < data.length; at += XERIAL_BLOCK) {
    const block = asBuffer(snappy.compress(data.subarray(at, at + XERIAL_BLOCK)));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(block.length);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

/** Reads both framings: xerial (Java producers) and a bare snappy block (librdkafka, some JS clients). */
function snappyUnframed(data: Buffer): Buffer {
  if (data.length < XERIAL_HEADER || !data.subarray(0, 8).equals(XERIAL_MAGIC)) {
    return asBuffer(snappy.uncompress(data));
  }
  const parts: Buffer[] = [];
  let at = XERIAL_HEADER;
  while (at < data.length) {
    if (at + 4 > data.length) throw new Error('xerial block header past the end');
    const length = data.readUInt32BE(at);
    at += 4;
    if (length > data.length - at) throw new Error('xerial block past the end');
    parts.push(asBuffer(snappy.uncompress(data.subarray(at, at + length))));
    at += length;
  }
  return Buffer.concat(parts);
}

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK = 64 * 1024;

/**
 * An LZ4 frame as Kafka reads it: version 1 with independent blocks (Kafka refuses dependent ones, which
 * lz4js's own frame writer declares), 64 KiB blocks, no checksums but the header's.
 */
function lz4Frame(data: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  header[4] = 0x60;
  header[5] = 0x40;
  header[6] = (xxh32(0, header, 4, 2) >>> 8) & 0xff;
  const parts: Buffer[] = [header];
  for (let at = 0; at < data.length; at += LZ4_BLOCK) {
    const block = data.subarray(at, at + LZ4_BLOCK);
    const compressed = compressLz4Block(block);
    const length = Buffer.alloc(4);
    if (compressed.length < block.length) {
      length.writeUInt32LE(compressed.length);
      parts.push(length, asBuffer(compressed));
    } else {
      // Stored: the high bit marks a block kept as it is.
      length.writeUInt32LE((0x80000000 | block.length) >>> 0);
      parts.push(length, block);
    }
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

let zstdCompressSync: ((data: Uint8Array) => Uint8Array) | undefined;
let zstdLoading: Promise<void> | undefined;

interface ZstdWasm {
  init(): Promise<void>;
  compress(data: Uint8Array, level?: number): Uint8Array;
}

/**
 * Loads what writing `compression` needs (the zstd WebAssembly module; the others are synchronous).
 * Rejects INVALID_ARGUMENT when it cannot be loaded.
 */
export async function prepareCompression(compression: KafkaCompression): Promise<void> {
  if (compression !== 'zstd' || zstdCompressSync) return;
  zstdLoading ??= (async () => {
    try {
      const loaded = (await import('@bokuweb/zstd-wasm')) as unknown as ZstdWasm & { default?: ZstdWasm };
      const module = typeof loaded.init === 'function' ? loaded : (loaded.default as ZstdWasm);
      await module.init();
      zstdCompressSync = (data) => module.compress(data, 3);
    } catch (error) {
      zstdLoading = undefined;
      throw new WalError(
        'INVALID_ARGUMENT',
        `kafkaAdapter: compression "zstd" needs @bokuweb/zstd-wasm (a dependency of this package) to load: ${
          (error as Error).message
        }`,
        { retriable: false, cause: error },
      );
    }
  })();
  await zstdLoading;
}

function guarded(codec: KafkaCodecName, decode: (data: Buffer) => Buffer): (data: Buffer) => Buffer {
  return (data) => {
    try {
      return decode(data);
    } catch (error) {
      if (WalError.is(error)) throw error;
      throw malformedBatch(codec, `does not decode: ${(error as Error).message}`, error);
    }
  };
}

export const CODECS: Readonly<Record<KafkaCodecName, KafkaCodec>> = {
  gzip: {
    compress: (data) => gzipSync(data),
    decompress: guarded('gzip', (data) => gunzipSync(data)),
  },
  snappy: {
    compress: snappyFramed,
    decompress: guarded('snappy', snappyUnframed),
  },
  lz4: {
    compress: lz4Frame,
    decompress: guarded('lz4', (data) => asBuffer(lz4.decompress(data))),
  },
  zstd: {
    compress: (data) => {
      if (!zstdCompressSync) throw new Error('zstd compression used before prepareCompression("zstd")');
      return asBuffer(zstdCompressSync(data));
    },
    decompress: guarded('zstd', (data) => asBuffer(zstdDecompress(data))),
  },
};
