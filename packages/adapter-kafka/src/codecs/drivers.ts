/**
 * Hands the pure-JS codecs to the client libraries, which decode fetched batches themselves. Both take
 * codecs at run time through their module objects; what a library already does right is left alone.
 *
 * - kafkajs ships gzip only and throws "not implemented" for the others unless a codec is registered
 *   in `CompressionCodecs`: snappy, lz4 and zstd are registered here unless the application registered
 *   its own first (a native codec it prefers stays in place).
 * - @platformatic/kafka 1.35 decodes snappy as a bare block and so fails on the xerial framing of Java
 *   producers, and has zstd only where node:zlib has it (Node 22.15+): its snappy codec is replaced, and
 *   zstd is filled in where node:zlib lacks it. Its gzip and lz4 read Kafka's batches as they are.
 */
import { WalError } from '@walstream/core';
import { CODECS, type KafkaCodec, type KafkaCodecName, malformedBatch } from './index.js';

interface KafkaJsCodecRegistry {
  readonly CompressionTypes: Readonly<Record<'GZIP' | 'Snappy' | 'LZ4' | 'ZSTD', number>>;
  readonly CompressionCodecs: Record<number, () => unknown>;
}

const KAFKAJS_NAMES: readonly [keyof KafkaJsCodecRegistry['CompressionTypes'], KafkaCodecName][] = [
  ['Snappy', 'snappy'],
  ['LZ4', 'lz4'],
  ['ZSTD', 'zstd'],
];

function kafkaJsCodec(codec: KafkaCodec, name: KafkaCodecName) {
  return {
    async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
      return codec.compress(encoder.buffer);
    },
    async decompress(buffer: Buffer): Promise<Buffer> {
      try {
        return codec.decompress(buffer);
      } catch (error) {
        // kafkajs retries a fetch whose decoding failed unless the error is not retriable.
        throw WalError.is(error)
          ? error
          : malformedBatch(name, `does not decode: ${errorText(error)}`, error);
      }
    },
  };
}

/**
 * The codec table of a loaded kafkajs. Imported from ESM, kafkajs is a CommonJS module whose namespace
 * lacks `CompressionCodecs` (Node's export detection does not see it): it is on `default` there.
 */
function kafkaJsRegistry(module: unknown): Partial<KafkaJsCodecRegistry> {
  const direct = (module ?? {}) as Partial<KafkaJsCodecRegistry> & {
    default?: Partial<KafkaJsCodecRegistry>;
  };
  return direct.CompressionCodecs ? direct : (direct.default ?? direct);
}

/** Registers snappy, lz4 and zstd with a kafkajs module where nothing usable is registered. */
export function installKafkaJsCodecs(module: unknown): void {
  const registry = kafkaJsRegistry(module);
  if (!registry.CompressionCodecs || !registry.CompressionTypes) return;
  for (const [type, name] of KAFKAJS_NAMES) {
    const number = registry.CompressionTypes[type];
    const current = registry.CompressionCodecs[number];
    let usable = false;
    try {
      usable = current !== undefined && current() !== undefined;
    } catch {
      // kafkajs's placeholder throws KafkaJSNotImplemented: ours goes in its place.
    }
    if (!usable) {
      const codec = kafkaJsCodec(CODECS[name], name);
      registry.CompressionCodecs[number] = () => codec;
    }
  }
}

/** kafkajs's number of a codec, for the `compression` of a send. */
export function kafkaJsCompressionType(module: unknown, name: KafkaCodecName): number | undefined {
  const types = kafkaJsRegistry(module).CompressionTypes;
  if (!types) return undefined;
  return { gzip: types.GZIP, snappy: types.Snappy, lz4: types.LZ4, zstd: types.ZSTD }[name];
}

interface PltAlgorithm {
  compressSync(data: unknown): Buffer;
  decompressSync(data: unknown): Buffer;
  available: boolean;
}

/** Its codecs get a Buffer or its own DynamicBuffer (whose `buffer` is the bytes joined). */
function bytesOf(data: unknown): Buffer {
  return Buffer.isBuffer(data) ? data : (data as { buffer: Buffer }).buffer;
}

function replace(algorithm: PltAlgorithm, codec: KafkaCodec): void {
  algorithm.compressSync = (data) => codec.compress(bytesOf(data));
  algorithm.decompressSync = (data) => codec.decompress(bytesOf(data));
  algorithm.available = true;
}

const FINAL = Symbol.for('walstream.kafka.codec-final');

/**
 * A batch that does not decode never will: @platformatic/kafka retries a fetch whose decoding failed
 * (40 times, about 67 s with the adapter's backoff) unless the error says `canRetry: false`. Every
 * codec's decode failure is marked so, and coded as walstream's malformed-payload error.
 */
function finalOnFailure(algorithm: PltAlgorithm, codec: KafkaCodecName): void {
  const decompress = algorithm.decompressSync as PltAlgorithm['decompressSync'] & { [FINAL]?: true };
  if (decompress[FINAL]) return;
  const wrapped = (data: unknown): Buffer => {
    try {
      return decompress(data);
    } catch (error) {
      const coded = WalError.is(error)
        ? error
        : malformedBatch(codec, `does not decode: ${errorText(error)}`, error);
      Object.defineProperty(coded, 'canRetry', { value: false });
      throw coded;
    }
  };
  algorithm.decompressSync = Object.assign(wrapped, { [FINAL]: true as const });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Gives @platformatic/kafka a snappy codec that reads both framings and zstd where it has none, and
 * makes every codec's decode failure final (not retried).
 */
export function installPlatformaticCodecs(module: unknown): void {
  const algorithms = (module as { compressionsAlgorithms?: Partial<Record<KafkaCodecName, PltAlgorithm>> })
    .compressionsAlgorithms;
  if (!algorithms) return;
  if (algorithms.snappy) replace(algorithms.snappy, CODECS.snappy);
  if (algorithms.zstd && !algorithms.zstd.available) replace(algorithms.zstd, CODECS.zstd);
  for (const name of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    const algorithm = algorithms[name];
    if (algorithm) finalOnFailure(algorithm, name);
  }
}
