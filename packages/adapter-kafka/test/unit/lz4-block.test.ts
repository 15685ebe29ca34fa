/// <reference path="../../src/codecs/vendor.d.ts" />

import { compressLz4Block as compressBlock } from '@walstream/core/internal';
import fc from 'fast-check';
import * as lz4 from 'lz4js';
import { expect, test } from 'vitest';

/** Walks the sequences of a block: every match must start ≥ 12 bytes and end ≥ 5 bytes before the end. */
function checkEndRules(block: Uint8Array, size: number): void {
  let at = 0;
  let out = 0;
  while (at < block.length) {
    const token = block[at++]!;
    let literals = token >> 4;
    if (literals === 15) for (let b = 255; b === 255; literals += b) b = block[at++]!;
    at += literals;
    out += literals;
    if (at >= block.length) break;
    at += 2;
    let length = (token & 15) + 4;
    if ((token & 15) === 15) for (let b = 255; b === 255; length += b) b = block[at++]!;
    expect(out).toBeLessThanOrEqual(size - 12);
    expect(out + length).toBeLessThanOrEqual(size - 5);
    out += length;
  }
  expect(out).toBe(size);
}

test('blocks decode to their input and keep the end-of-block rules strict decoders check', () => {
  const structured = fc
    .array(fc.oneof(fc.constantFrom('walstream ', '{"id":', '},', 'abc'), fc.string({ maxLength: 6 })), {
      maxLength: 4000,
    })
    .map((parts) => new TextEncoder().encode(parts.join('')));
  let matched = 0;
  fc.assert(
    fc.property(fc.oneof(structured, fc.uint8Array({ maxLength: 3000 })), (data) => {
      const block = compressBlock(data);
      const out = new Uint8Array(data.length);
      expect(lz4.decompressBlock(block, out, 0, block.length, 0)).toBe(data.length);
      expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
      checkEndRules(block, data.length);
      if (block.length < data.length) matched++;
    }),
    { numRuns: 300 },
  );
  // Interesting cases were generated: blocks that really hold matches.
  expect(matched).toBeGreaterThan(10);
});
