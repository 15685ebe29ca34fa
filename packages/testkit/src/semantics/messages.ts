import {
  defineMessageType,
  type ImmutableMessage,
  ImmutableTxnMessage,
  type MessageTypeDefinition,
  type MutableMessage,
  messageTypes,
  newMessage,
  SystemMessageType,
} from '@walstream/core';

/** The user property that carries the suite's key of every message it appends. */
export const KEY_PROPERTY = 'k';

function ensureType(definition: MessageTypeDefinition): MessageTypeDefinition {
  const existing = messageTypes.get(definition.code);
  // Registered already (this module evaluated twice in one process): reuse it if it is ours.
  if (existing && existing.name === definition.name) return existing as MessageTypeDefinition;
  return defineMessageType(definition);
}

/** A plain application message: no segment, no lock beyond the shared one. */
export const SemanticsNote = ensureType({ name: 'SemanticsConformanceNote', code: 7301, flags: {} });

/** An exclusive-required application message: appended alone on its vchannel. */
export const SemanticsExclusive = ensureType({
  name: 'SemanticsConformanceExclusive',
  code: 7302,
  flags: { exclusiveRequired: true },
});

/** Payload bytes derived from the key, so a reader can tell a mangled body from a correct one. */
export function payloadOf(key: string): Uint8Array {
  const bytes = new Uint8Array(8 + (key.length % 24));
  let state = 2166136261;
  for (let i = 0; i < key.length; i++) state = Math.imul(state ^ key.charCodeAt(i), 16777619);
  for (let i = 0; i < bytes.length; i++) {
    state = Math.imul(state ^ (state >>> 13), 2246822507) + i;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

export function noteMessage(vchannel: string, key: string, exclusive = false): MutableMessage {
  return newMessage(exclusive ? SemanticsExclusive : SemanticsNote)
    .vchannel(vchannel)
    .property(KEY_PROPERTY, key)
    .body(payloadOf(key))
    .build();
}

/** What a delivered message is, from the suite's point of view. */
export type Identified =
  | { readonly kind: 'tick'; readonly message: ImmutableMessage }
  | { readonly kind: 'plain'; readonly key: string; readonly message: ImmutableMessage }
  | {
      readonly kind: 'txn';
      /** The commit's key. */
      readonly key: string;
      readonly bodyKeys: readonly string[];
      readonly message: ImmutableTxnMessage;
    }
  /** A begin, body, commit or rollback delivered on its own: readers must only ever see whole txns. */
  | { readonly kind: 'txnPart'; readonly key: string | undefined; readonly message: ImmutableMessage }
  /** Written by the WAL itself (segments, flushes, vchannel lifecycle): ordered, but not the suite's. */
  | { readonly kind: 'other'; readonly message: ImmutableMessage };

const TXN_PART_TYPES: ReadonlySet<number> = new Set([
  SystemMessageType.BeginTxn,
  SystemMessageType.CommitTxn,
  SystemMessageType.RollbackTxn,
]);

export function identify(message: ImmutableMessage): Identified {
  const type = message.messageType;
  if (type === SystemMessageType.TimeTick) return { kind: 'tick', message };
  const key = message.properties[KEY_PROPERTY];
  if (type === SystemMessageType.Txn) {
    if (!(message instanceof ImmutableTxnMessage)) {
      return { kind: 'txnPart', key, message };
    }
    return {
      kind: 'txn',
      key: message.commit.properties[KEY_PROPERTY] ?? '',
      bodyKeys: message.bodies.map((body) => body.properties[KEY_PROPERTY] ?? ''),
      message,
    };
  }
  if (TXN_PART_TYPES.has(type) || message.properties._tx !== undefined) {
    return { kind: 'txnPart', key, message };
  }
  if (key === undefined) return { kind: 'other', message };
  return { kind: 'plain', key, message };
}

/** One line about a message for failure reports: type, key, id, timeTick, vchannel. */
export function describeMessage(message: ImmutableMessage): string {
  const type = messageTypes.get(message.messageType)?.name ?? `type ${message.messageType}`;
  const key = message.properties[KEY_PROPERTY];
  const tt = message.hasTimeTick ? String(message.timeTick) : 'none';
  const where = message.vchannel ?? '*';
  const persisted = message.messageType === SystemMessageType.TimeTick && !message.persisted ? ' (np)' : '';
  const term = message.walTerm;
  return `${type}${persisted}${key ? ` ${key}` : ''} id=${message.id.toString()} tt=${tt} vc=${where}${term === undefined ? '' : ` term=${term}`}`;
}
