import { KafkaMessageId } from '@walstream/adapter-kafka';
import { unmarshalMessageId } from '@walstream/core';
import { describe, expect, test } from 'vitest';

/**
 * Milvus's Kafka MessageID (pkg/streaming/walimpls/impls/kafka/message_id.go) marshals the offset with
 * `message.EncodeInt64`, which is Go's `strconv.FormatInt(offset, 36)`: lower-case base-36 digits, no
 * padding. These strings are written down by hand (offset → base-36), not computed by the code under test.
 */
const MILVUS_ENCODINGS: [offset: bigint, marshalled: string][] = [
  [0n, '0'],
  [1n, '1'],
  [35n, 'z'],
  [36n, '10'],
  [37n, '11'],
  [1_295n, 'zz'],
  [1_296n, '100'],
  [1_234_567_890_123n, 'fr5hugnf'],
  // 2^53 and 2^53 + 1: past the last integer a JavaScript number holds exactly.
  [9_007_199_254_740_992n, '2gosa7pa2gw'],
  [9_007_199_254_740_993n, '2gosa7pa2gx'],
  // The largest int64, the largest Kafka offset.
  [9_223_372_036_854_775_807n, '1y2p0ij32e8e7'],
];

describe('KafkaMessageId', () => {
  test.each(
    MILVUS_ENCODINGS,
  )('offset %s marshals to Milvus\'s base-36 "%s" and unmarshals back', (offset, marshalled) => {
    const id = new KafkaMessageId(offset);
    expect(id.marshal()).toBe(marshalled);
    expect(KafkaMessageId.unmarshal(marshalled).offset).toBe(offset);
    const back = unmarshalMessageId('kafka', marshalled);
    expect(back.compare(id)).toBe(0);
  });

  test('orders by offset, not by the marshalled string', () => {
    // '10' < 'z' as strings, yet 36 > 35.
    expect(new KafkaMessageId(36n).compare(new KafkaMessageId(35n))).toBe(1);
    expect(new KafkaMessageId(35n).compare(new KafkaMessageId(36n))).toBe(-1);
    expect(new KafkaMessageId(36n).compare(KafkaMessageId.unmarshal('10'))).toBe(0);
  });

  test('rejects what is not a base-36 offset', () => {
    for (const bad of ['', '-1', 'A1', '1.5', ' 1', 'zzzzzzzzzzzzzz']) {
      expect(() => KafkaMessageId.unmarshal(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_MESSAGE_ID' }),
      );
    }
  });
});
