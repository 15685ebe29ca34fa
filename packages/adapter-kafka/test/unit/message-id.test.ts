import { KafkaMessageId } from '@walstream/adapter-kafka';
import { unmarshalMessageId } from '@walstream/core';
import { describe, expect, test } from 'vitest';

describe('KafkaMessageId', () => {
  test('marshals base-36 like Milvus and round-trips through the registry', () => {
    const id = new KafkaMessageId(1_234_567_890_123n);
    expect(id.marshal()).toBe((1_234_567_890_123).toString(36));
    const back = unmarshalMessageId('kafka', id.marshal());
    expect(back.compare(id)).toBe(0);
    expect(new KafkaMessageId(35n).marshal()).toBe('z');
    expect(new KafkaMessageId(36n).compare(new KafkaMessageId(35n))).toBeGreaterThan(0);
  });

  test('rejects what is not a base-36 offset', () => {
    for (const bad of ['', '-1', 'A1', '1.5', 'zzzzzzzzzzzzzzzz']) {
      expect(() => KafkaMessageId.unmarshal(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_MESSAGE_ID' }),
      );
    }
  });
});
