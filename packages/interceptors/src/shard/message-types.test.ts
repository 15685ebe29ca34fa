import { MessageTypeRegistry, messageTypes } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { ShardMessageType, shardMessageTypes } from './message-types.js';

describe('shardMessageTypes', () => {
  it('registers the Milvus-numbered types once, with the flags the lock and shard rely on', () => {
    const types = shardMessageTypes();
    expect(shardMessageTypes()).toBe(types);
    expect(types.Insert.code).toBe(2);
    expect(messageTypes.get(2)?.flags.data).toBe(true);
    for (const code of [5, 6, 7, 8, 9]) expect(messageTypes.isExclusiveRequired(code)).toBe(true);
    expect(messageTypes.isSelfControlled(ShardMessageType.CreateSegment)).toBe(true);
  });

  it('accepts an earlier registration with the same flags, rejects a clash', () => {
    const same = new MessageTypeRegistry();
    same.register({ name: 'Insert', code: 2, flags: { data: true } });
    expect(shardMessageTypes(same).Insert).toBe(same.get(2));
    const clash = new MessageTypeRegistry();
    clash.register({ name: 'MyThing', code: 5, flags: {} });
    expect(() => shardMessageTypes(clash)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
