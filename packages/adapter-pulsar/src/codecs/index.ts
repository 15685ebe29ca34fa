/**
 * Pulsar's payload codecs (`CompressionType` of `MessageMetadata`), all pure JavaScript or WebAssembly so
 * that Node 20 reads every entry a Java, Go or C++ client writes with no native addon: ZLIB through
 * node:zlib, LZ4 (raw blocks, as Pulsar's clients write them) through lz4js, SNAPPY (raw, unframed)
 * through snappyjs, ZSTD through fzstd (reading) and @bokuweb/zstd-wasm (writing, loaded on first use).
 *
 * Two failures, told apart by `details.reason`: `unsupported-codec` (a compression type this client does
 * not know) and `malformed-payload` (the bytes do not decode as the codec the entry names). Both are
 * UNRECOVERABLE and not retriable: the entry is stored that way and reading it again gives the same bytes.
 */
import { constants, deflateSync, inflateSync } from 'node:zlib';
import { WalError } from '@walstream/core';
import { compressLz4Block } from '@walstream/core/internal';
import { decompress as zstdDecompress } from 'fzstd';
import * as lz4 from 'lz4js';
import * as snappy from 'snappyjs';

/** Names of Pulsar's compression types, as the `compression` option takes them. */
export type PulsarCompression = 'none' | 'lz4' | 'zlib' | 'zstd' | 'snappy';

/** `CompressionType` numbers of PulsarApi.proto, indexed by name. */
export const COMPRESSION_TYPES: Readonly<Record<PulsarCompression, number>> = {
  none: 0,
  lz4: 1,
  zlib: 2,
  zstd: 3,
  snappy: 4,
};

const NAMES: readonly PulsarCompression[] = ['none', 'lz4', 'zlib', 'zstd', 'snappy'];

export function compressionName(type: number): string {
  return NAMES[type] ?? `compression type ${type}`;
}

export function unsupportedCodec(type: number): WalError {
  return new WalError(
    'UNRECOVERABLE',
    `cannot read a Pulsar entry: ${compressionName(type)} is not a codec this client knows ` +
      `(it reads ${NAMES.join(', ')}); write the topic with one of those`,
    { retriable: false, details: { reason: 'unsupported-codec', codec: compressionName(type) } },
  );
}

function malformedPayload(codec: string, why: string, cause?: unknown): WalError {
  return new WalError('UNRECOVERABLE', `cannot read a Pulsar entry: its ${codec} payload ${why}`, {
    retriable: false,
    details: { reason: 'malformed-payload', codec },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** An LZ4 raw block of `data` (Pulsar's LZ4 entries are one block, its size in the metadata). */
function lz4Block(data: Uint8Array): Uint8Array {
  return compressLz4Block(data);
}

let zstdEncoder: Promise<(data: Uint8Array) => Uint8Array> | undefined;
let zstdCompressSync: ((data: Uint8Array) => Uint8Array) | undefined;

interface ZstdWasm {
  init(): Promise<void>;
  compress(data: Uint8Array, level?: number): Uint8Array;
}

/**
 * Loads what writing `compression` needs (the zstd WebAssembly module; the others are synchronous) so
 * that {@link compressPayload} can run synchronously on the append path. Rejects INVALID_ARGUMENT when
 * the module cannot be loaded.
 */
export async function prepareCompression(compression: PulsarCompression): Promise<void> {
  if (compression !== 'zstd' || zstdCompressSync) return;
  zstdEncoder ??= (async () => {
    try {
      const loaded = (await import('@bokuweb/zstd-wasm')) as unknown as ZstdWasm & { default?: ZstdWasm };
      const module = typeof loaded.init === 'function' ? loaded : (loaded.default as ZstdWasm);
      await module.init();
      return (data: Uint8Array) => module.compress(data, 3);
    } catch (error) {
      zstdEncoder = undefined;
      throw new WalError(
        'INVALID_ARGUMENT',
        'pulsarAdapter: compression "zstd" needs @bokuweb/zstd-wasm (a dependency of this package) to load: ' +
          `${(error as Error).message}`,
        { retriable: false, cause: error },
      );
    }
  })();
  zstdCompressSync = await zstdEncoder;
}

/**
 * The payload to send under `compression`: the compressed bytes and their type, or the payload as it is
 * (type NONE) when compressing does not make it smaller — each entry names its own codec.
 */
export function compressPayload(
  compression: PulsarCompression,
  payload: Uint8Array,
): { readonly type: number; readonly payload: Uint8Array } {
  let out: Uint8Array;
  switch (compression) {
    case 'none':
      return { type: 0, payload };
    case 'zlib':
      out = deflateSync(payload);
      break;
    case 'lz4':
      out = lz4Block(payload);
      break;
    case 'snappy':
      out = snappy.compress(payload);
      break;
    case 'zstd':
      if (!zstdCompressSync) throw new Error('zstd compression used before prepareCompression("zstd")');
      out = zstdCompressSync(payload);
      break;
  }
  return out.length < payload.length
    ? { type: COMPRESSION_TYPES[compression], payload: out }
    : { type: 0, payload };
}

/**
 * Most bytes an entry may inflate to. The size comes from the entry's metadata and sizes the output
 * buffer, so a damaged one must not allocate without bound; a real batch stays far below.
 */
export const MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024;

/** The bytes of a payload of compression `type` whose metadata says it inflates to `size` bytes. */
export function decompressPayload(type: number, payload: Uint8Array, size: number): Uint8Array {
  if (type === 0) return payload;
  const codec = compressionName(type);
  if (type > 0 && type < NAMES.length && (size < 0 || size > MAX_UNCOMPRESSED_BYTES)) {
    throw malformedPayload(
      codec,
      `claims to inflate to ${size} bytes (at most ${MAX_UNCOMPRESSED_BYTES} are read)`,
    );
  }
  let out: Uint8Array;
  try {
    switch (type) {
      case COMPRESSION_TYPES.zlib:
        // Java's Deflater ends each payload with a sync flush, not a finished stream: inflating up to the
        // flush point gives every byte back.
        out = inflateSync(payload, { finishFlush: constants.Z_SYNC_FLUSH });
        break;
      case COMPRESSION_TYPES.lz4: {
        const target = new Uint8Array(size);
        const end = lz4.decompressBlock(payload, target, 0, payload.length, 0);
        if (end !== size) throw new Error(`decoded ${end} bytes`);
        out = target;
        break;
      }
      case COMPRESSION_TYPES.snappy:
        out = snappy.uncompress(payload, size);
        break;
      case COMPRESSION_TYPES.zstd:
        out = zstdDecompress(payload, size > 0 ? new Uint8Array(size) : undefined);
        break;
      default:
        throw unsupportedCodec(type);
    }
  } catch (error) {
    if (WalError.is(error)) throw error;
    throw malformedPayload(codec, `does not decode: ${(error as Error).message}`, error);
  }
  if (out.length !== size) {
    throw malformedPayload(codec, `decodes to ${out.length} bytes where its metadata says ${size}`);
  }
  return out;
}
