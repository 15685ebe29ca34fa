import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  CommandType,
  decodeBaseCommand,
  decodeMessageId,
  encodeMessageId,
  type MessageIdData,
  sendCommand,
} from '../../src/protocol/commands.js';
import { encodePayloadFrame, encodeSendFrame, FrameDecoder } from '../../src/protocol/frame.js';
import { decodeMessageMetadata, encodeMessageMetadata } from '../../src/protocol/metadata.js';
import { ProtoWriter } from '../../src/protocol/proto.js';

describe('the one-allocation SEND encoder', () => {
  test('writes byte for byte what the generic command and metadata writers write', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 31 - 1 }),
        fc.maxSafeNat(),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.nat({ max: 2 ** 45 }),
        fc.dictionary(
          fc.string({ unit: 'grapheme', maxLength: 12 }).filter((key) => key !== '__proto__'),
          fc.string({ unit: 'grapheme', maxLength: 300 }),
          {
            maxKeys: 6,
          },
        ),
        fc.uint8Array({ maxLength: 3000 }),
        (producerId, sequenceId, producerName, publishTime, properties, payload) => {
          const fast = encodeSendFrame(
            producerId,
            sequenceId,
            new TextEncoder().encode(producerName),
            publishTime,
            properties,
            payload,
          );
          const generic = encodePayloadFrame(
            sendCommand(producerId, sequenceId, 1),
            encodeMessageMetadata({ producerName, sequenceId, publishTime, properties }),
            payload,
          );
          expect(fast.equals(generic)).toBe(true);
          const [frame] = new FrameDecoder().push(fast);
          expect(frame!.command.type).toBe(CommandType.SEND);
          const metadata = decodeMessageMetadata(frame!.metadata!);
          expect(metadata.properties).toEqual({ ...properties });
          expect(metadata.producerName).toBe(producerName);
          expect(Buffer.from(frame!.payload!).equals(Buffer.from(payload))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('protobuf fast paths', () => {
  test('MessageIdData round-trips over the whole uint64 and int32 ranges', () => {
    const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    const uint64 = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.bigInt({ min: 0n, max: 1n << 50n }),
    );
    fc.assert(
      fc.property(
        uint64,
        uint64,
        int32,
        int32,
        int32,
        (ledgerId, entryId, partition, batchIndex, batchSize) => {
          const id: MessageIdData = { ledgerId, entryId, partition, batchIndex, batchSize };
          expect(decodeMessageId(encodeMessageId(id))).toEqual(id);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('a BaseCommand whose body comes before its type still decodes', () => {
    const body = new Uint8Array([0x08, 0x07]);
    const w = new ProtoWriter();
    w.bytes(CommandType.PONG, new Uint8Array(0))
      .bytes(CommandType.SEND_RECEIPT, body)
      .uint(1, CommandType.SEND_RECEIPT);
    const decoded = decodeBaseCommand(w.finish());
    expect(decoded.type).toBe(CommandType.SEND_RECEIPT);
    expect([...decoded.body]).toEqual([...body]);
  });
});
