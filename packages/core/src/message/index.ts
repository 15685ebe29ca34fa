export {
  type BroadcastHeader,
  decodeBroadcastHeader,
  encodeBroadcastHeader,
  exclusiveResourceKey,
  ResourceDomain,
  type ResourceKey,
  sharedResourceKey,
} from './broadcast.js';
export { decodeBody, MessageBuilder, newMessage, splitBroadcast } from './builder.js';
export { ImmutableMessage, MutableMessage } from './message.js';
export {
  type BodyCodec,
  defineMessageType,
  type MessageTypeDefinition,
  type MessageTypeFlags,
  MessageTypeRegistry,
  messageTypes,
  SystemMessageType,
  type SystemMessageTypeName,
} from './message-type.js';
export {
  assertUserProperties,
  decodeBase36,
  encodeBase36,
  isReservedPropertyKey,
  MessageVersion,
  type Properties,
  SystemProperty,
} from './properties.js';
export {
  decodeTxnContext,
  encodeTxnContext,
  INFINITE_KEEPALIVE_MS,
  NON_TXN_ID,
  type TxnContext,
  TxnState,
} from './txn-context.js';
export { ImmutableTxnMessage, ImmutableTxnMessageBuilder } from './txn-message.js';
