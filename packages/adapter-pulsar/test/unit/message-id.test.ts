import { hasCode, unmarshalMessageId } from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PulsarMessageId } from '../../src/index.js';

const id = (ledger: bigint, entry: bigint, batch = -1) =>
  new PulsarMessageId({
    ledgerId: ledger,
    entryId: entry,
    partition: -1,
    batchIndex: batch,
    batchSize: batch < 0 ? 0 : 4,
  });

/**
 * Milvus marshals a Pulsar id as standard base64 of `MessageIdData` as pulsar-client-go's
 * `Serialize()` writes it: ledgerId (1), entryId (2), partition (3), batch_index (4) and batch_size (6),
 * every field present, in field order; negative int32s are 10-byte varints. The strings are written
 * down by hand from the protobuf wire format (hex beside each), not computed by the code under test.
 */
const GO_CLIENT_ENCODINGS: [what: string, id: PulsarMessageId, marshalled: string][] = [
  [
    // 08 01 10 02 18 ff×9 01 20 ff×9 01 30 00
    'ledger 1, entry 2, not batched',
    id(1n, 2n),
    'CAEQAhj///////////8BIP///////////wEwAA==',
  ],
  [
    // 08 00 10 00 18 ff×9 01 20 ff×9 01 30 00
    'ledger 0, entry 0',
    id(0n, 0n),
    'CAAQABj///////////8BIP///////////wEwAA==',
  ],
  [
    // 08 b9 60 10 a6 05 18 ff×9 01 20 03 30 04
    'ledger 12345, entry 678, batch index 3 of 4',
    id(12_345n, 678n, 3),
    'CLlgEKYFGP///////////wEgAzAE',
  ],
  [
    // 08 ff×8 7f 10 80 80 80 80 10 18 ff×9 01 20 ff×9 01 30 00
    'ledger 2^63 - 1, entry 2^32',
    id(9_223_372_036_854_775_807n, 4_294_967_296n),
    'CP//////////fxCAgICAEBj///////////8BIP///////////wEwAA==',
  ],
];

describe('PulsarMessageId', () => {
  test.each(
    GO_CLIENT_ENCODINGS,
  )('%s marshals as pulsar-client-go serializes it and unmarshals back', (_, pulsarId, marshalled) => {
    expect(pulsarId.marshal()).toBe(marshalled);
    const back = PulsarMessageId.unmarshal(marshalled);
    expect(back.data).toEqual(pulsarId.data);
    expect(unmarshalMessageId('pulsar', marshalled).compare(pulsarId)).toBe(0);
  });

  test("ids with only some fields (the Java client, Milvus's own test ids) unmarshal with the defaults", () => {
    // 08 01 10 02: ledger and entry only, as the Java client's toByteArray() writes a plain id.
    expect(PulsarMessageId.unmarshal('CAEQAg==').data).toEqual({
      ledgerId: 1n,
      entryId: 2n,
      partition: -1,
      batchIndex: -1,
      batchSize: 0,
    });
    // 08 01 10 02 20 03: Milvus's message_id_test.go builds MessageIdData{ledger 1, entry 2, batch 3}.
    const milvusTestId = PulsarMessageId.unmarshal('CAEQAiAD');
    expect(milvusTestId.data).toMatchObject({ ledgerId: 1n, entryId: 2n, partition: -1, batchIndex: 3 });
    expect(milvusTestId.compare(id(1n, 2n, 3))).toBe(0);
    expect(milvusTestId.compare(id(1n, 2n, 2))).toBe(1);
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
