import { crc32c } from '@walstream/adapter-local';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const ascii = (text: string) => new TextEncoder().encode(text);

/** The bit-at-a-time definition: the reference the table-driven code must agree with. */
function reference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('crc32c', () => {
  it('gives the known answers (RFC 3720 B.4 and the usual check value)', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // 32 zero bytes
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43); // 32 bytes of 0xff
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e); // 0, 1, ..., 31
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c); // 31, 30, ..., 0
  });

  it('agrees with the bit-at-a-time definition for any bytes, offset and range', () => {
    let wordLoopRuns = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300, size: 'max' }),
        fc.nat(7),
        fc.nat(),
        fc.nat(),
        (bytes, shift, a, b) => {
          // Shifted into a larger buffer, so the aligned word loop meets every alignment.
          const backing = new Uint8Array(bytes.length + shift);
          backing.set(bytes, shift);
          const view = backing.subarray(shift);
          const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
          const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
          if (end - start >= 64) wordLoopRuns++;
          expect(crc32c(view, start, end)).toBe(reference(bytes.subarray(start, end)));
        },
      ),
      { numRuns: 500 },
    );
    expect(wordLoopRuns).toBeGreaterThan(50);
  });

  it('continues a CRC over a split: crc(a + b) = crc(b, from crc(a))', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, cut) => {
        const at = cut % (bytes.length + 1);
        expect(crc32c(bytes, at, bytes.length, crc32c(bytes, 0, at))).toBe(crc32c(bytes));
      }),
    );
  });
});
