import { hasCode, unmarshalMessageId } from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PulsarMessageId } from '../src/index.js';

const id = (ledger: bigint, entry: bigint, batch = -1) =>
  new PulsarMessageId({
    ledgerId: ledger,
    entryId: entry,
    partition: -1,
    batchIndex: batch,
    batchSize: batch < 0 ? 0 : 4,
  });

describe('PulsarMessageId', () => {
  test('marshals as base64 of MessageIdData with every field, as the Go client serializes it', () => {
    // ledgerId=1, entryId=2, partition=-1 and batch_index=-1 as 10-byte varints, batch_size=0.
    const minusOne = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    const expected = Buffer.from([0x08, 1, 0x10, 2, 0x18, ...minusOne, 0x20, ...minusOne, 0x30, 0]);
    expect(id(1n, 2n).marshal()).toBe(expected.toString('base64'));
    // A Java-style id (only ledger and entry set) decodes with the defaults.
    const javaStyle = Buffer.from([0x08, 1, 0x10, 2]).toString('base64');
    expect(PulsarMessageId.unmarshal(javaStyle).compare(id(1n, 2n))).toBe(0);
  });

  test('round-trips through the registry and orders by (ledger, entry, batch index)', () => {
    const arbitraryId = fc
      .tuple(
        fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
        fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
        fc.integer({ min: -1, max: 1000 }),
      )
      .map(([l, e, b]) => id(l, e, b));
    fc.assert(
      fc.property(arbitraryId, arbitraryId, (a, b) => {
        const back = unmarshalMessageId('pulsar', a.marshal());
        expect(back.compare(a)).toBe(0);
        const expected =
          a.ledgerId !== b.ledgerId
            ? Number(a.ledgerId > b.ledgerId) * 2 - 1
            : a.entryId !== b.entryId
              ? Number(a.entryId > b.entryId) * 2 - 1
              : Math.sign(a.batchIndex - b.batchIndex);
        expect(Math.sign(a.compare(b))).toBe(expected);
      }),
    );
    expect(id(3n, 9n).compare(id(4n, 0n))).toBeLessThan(0);
    expect(id(3n, 9n, 0).compare(id(3n, 9n, 1))).toBeLessThan(0);
  });

  test('garbage does not unmarshal', () => {
    for (const bad of [
      '',
      'not base64!',
      Buffer.from([0x08]).toString('base64'),
      Buffer.from([0x10, 1]).toString('base64'),
    ]) {
      let caught: unknown;
      try {
        unmarshalMessageId('pulsar', bad);
      } catch (error) {
        caught = error;
      }
      expect(hasCode(caught, 'INVALID_MESSAGE_ID')).toBe(true);
    }
  });
});
