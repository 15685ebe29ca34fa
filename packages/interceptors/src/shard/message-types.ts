import {
  type MessageTypeDefinition,
  type MessageTypeFlags,
  type MessageTypeRegistry,
  messageTypes,
  SystemMessageType,
  WalError,
} from '@walstream/core';

/**
 * The message types the shard interceptor gives meaning to: walstream's vchannel lifecycle (numbers above
 * Milvus's range, which ends at Txn = 999) and Milvus's collection, partition and segment types (Milvus's
 * numbers).
 */
export const ShardMessageType = {
  CreateVChannel: 1001,
  DropVChannel: 1002,
  Insert: 2,
  Delete: 3,
  Flush: SystemMessageType.Flush,
  CreateCollection: 5,
  DropCollection: 6,
  CreatePartition: 7,
  DropPartition: 8,
  ManualFlush: SystemMessageType.ManualFlush,
  CreateSegment: SystemMessageType.CreateSegment,
} as const;

export type ShardMessageTypeName = keyof typeof ShardMessageType;

const APPLICATION_TYPES: readonly { name: ShardMessageTypeName; flags: MessageTypeFlags }[] = [
  // Not exclusive: a repeated create (an "ensure it exists") must not fail the vchannel's open txns, as an
  // exclusive message does. The shard orders a create before every other message of its vchannel itself.
  { name: 'CreateVChannel', flags: {} },
  // Exclusive: every message of the vchannel lands before it, in id and timetick order alike, and the
  // vchannel's open txns end with it.
  { name: 'DropVChannel', flags: { exclusiveRequired: true } },
  { name: 'Insert', flags: { data: true } },
  { name: 'Delete', flags: {} },
  // As in the original, every DDL is exclusive: its timetick order equals its id order on the vchannel.
  { name: 'CreateCollection', flags: { exclusiveRequired: true } },
  { name: 'DropCollection', flags: { exclusiveRequired: true } },
  { name: 'CreatePartition', flags: { exclusiveRequired: true } },
  { name: 'DropPartition', flags: { exclusiveRequired: true } },
];

export type ShardMessageTypes = { readonly [K in ShardMessageTypeName]: MessageTypeDefinition<unknown> };

const ensured = new WeakMap<MessageTypeRegistry, ShardMessageTypes>();

/**
 * The shard message types, registered in `registry` (the process-wide one by default) unless they already
 * are. A type registered earlier under the same number is accepted if it has the flags the shard relies on
 * (Insert carries data; DropVChannel and the DDL types are exclusive); anything else is INVALID_ARGUMENT.
 */
export function shardMessageTypes(registry: MessageTypeRegistry = messageTypes): ShardMessageTypes {
  const cached = ensured.get(registry);
  if (cached) return cached;
  for (const { name, flags } of APPLICATION_TYPES) {
    const code = ShardMessageType[name];
    const existing = registry.get(code);
    if (!existing) {
      registry.register({ name, code, flags });
      continue;
    }
    if (
      existing.name !== name ||
      Boolean(existing.flags.data) !== Boolean(flags.data) ||
      Boolean(existing.flags.exclusiveRequired) !== Boolean(flags.exclusiveRequired)
    ) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `message type ${code} is registered as ${existing.name} ${JSON.stringify(existing.flags)}; the shard interceptor needs ${name} ${JSON.stringify(flags)}`,
      );
    }
  }
  const types = Object.fromEntries(
    Object.entries(ShardMessageType).map(([name, code]) => [name, registry.require(code)]),
  ) as unknown as ShardMessageTypes;
  ensured.set(registry, types);
  return types;
}
