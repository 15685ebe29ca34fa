/**
 * An LZ4 block compressor that keeps the format's end-of-block rules, which strict decoders (lz4-java's,
 * used by Kafka brokers and Java clients; aircompressor's, used by Pulsar's) enforce: the last match
 * starts at least 12 bytes before the end of the block and the last 5 bytes are literals. lz4js's own
 * compressor breaks them on larger blocks, so its output only decoded with lz4js. Greedy, one hash
 * probe per position, skipping ahead faster through data that does not match (as the reference does).
 */
const MIN_MATCH = 4;
const MF_LIMIT = 12;
const LAST_LITERALS = 5;
const MAX_OFFSET = 65_535;
const HASH_LOG = 16;

const table = new Int32Array(1 << HASH_LOG);

function read32(src: Uint8Array, at: number): number {
  return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
}

function hash(sequence: number): number {
  return Math.imul(sequence, 2654435761) >>> (32 - HASH_LOG);
}

/** Writes a length's continuation bytes (after the 15 in the token) at `at`; returns the next index. */
function writeLength(out: Uint8Array, at: number, rest: number): number {
  let left = rest;
  while (left >= 255) {
    out[at++] = 255;
    left -= 255;
  }
  out[at++] = left;
  return at;
}

/** The most bytes {@link compressBlock} writes for `size` input bytes. */
export function blockBound(size: number): number {
  return size + Math.floor(size / 255) + 16;
}

/** One raw LZ4 block of `src` (decodes to exactly `src`). */
export function compressBlock(src: Uint8Array): Uint8Array {
  const n = src.length;
  const out = new Uint8Array(blockBound(n));
  let op = 0;
  let anchor = 0;
  const emit = (literalEnd: number, offset: number, matchLength: number): void => {
    const literals = literalEnd - anchor;
    const tokenAt = op++;
    let token = (literals >= 15 ? 15 : literals) << 4;
    if (literals >= 15) op = writeLength(out, op, literals - 15);
    out.set(src.subarray(anchor, literalEnd), op);
    op += literals;
    if (matchLength > 0) {
      out[op++] = offset & 0xff;
      out[op++] = offset >>> 8;
      const extra = matchLength - MIN_MATCH;
      token |= extra >= 15 ? 15 : extra;
      if (extra >= 15) op = writeLength(out, op, extra - 15);
    }
    out[tokenAt] = token;
  };
  if (n >= MF_LIMIT + 1) {
    table.fill(-1);
    const matchStartLimit = n - MF_LIMIT;
    const matchEndLimit = n - LAST_LITERALS;
    let i = 0;
    let misses = 0;
    while (i < matchStartLimit) {
      const sequence = read32(src, i);
      const h = hash(sequence);
      const candidate = table[h]!;
      table[h] = i;
      if (candidate >= 0 && i - candidate <= MAX_OFFSET && read32(src, candidate) === sequence) {
        let length = MIN_MATCH;
        while (i + length < matchEndLimit && src[candidate + length] === src[i + length]) length++;
        emit(i, i - candidate, length);
        i += length;
        anchor = i;
        misses = 0;
        continue;
      }
      i += 1 + (misses++ >> 6);
    }
  }
  emit(n, 0, 0);
  return out.subarray(0, op);
}
