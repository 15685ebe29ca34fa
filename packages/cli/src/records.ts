import {
  defineMessageType,
  type ImmutableMessage,
  ImmutableTxnMessage,
  type MessageTypeDefinition,
  type MutableMessage,
  messageTypes,
  newMessage,
} from '@walstream/core';
import { shardMessageTypes } from '@walstream/interceptors';
import { usageError } from './command.js';

/** `walstream produce` lines become these: a JSON value as its JSON text, or (--raw) a line of text. */
export const JsonRecord: MessageTypeDefinition<Uint8Array> = registered('JsonRecord', 2110);
export const TextRecord: MessageTypeDefinition<Uint8Array> = registered('TextRecord', 2111);

function registered(name: string, code: number): MessageTypeDefinition<Uint8Array> {
  return (
    (messageTypes.byName(name) as MessageTypeDefinition<Uint8Array> | undefined) ??
    defineMessageType({ name, code, flags: {} })
  );
}

// Consumers name the shard interceptor's types (CreateVChannel, ...) even in a process that wrote none.
shardMessageTypes();

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A bad input line: which one, and why. Thrown as INVALID_ARGUMENT with the line number in details. */
function badLine(line: number, why: string) {
  const error = usageError(`line ${line}: ${why}`);
  (error.details as Record<string, unknown>).line = line;
  return error;
}

/**
 * One input line as a message on `vchannel`: `{"body": <any JSON>, "properties": {"k": "v"}}`, or the
 * line's text with `raw`. Throws INVALID_ARGUMENT naming the line when it is not such an object, or when
 * the message would exceed `maxBytes`.
 */
export function lineToMessage(
  text: string,
  line: number,
  vchannel: string,
  raw: boolean,
  maxBytes: number,
): MutableMessage {
  let payload: Uint8Array;
  let properties: Record<string, string> = {};
  if (raw) {
    payload = utf8.encode(text);
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw badLine(line, `malformed JSON (${(error as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !('body' in parsed)) {
      throw badLine(line, 'expected an object {"body": ..., "properties": {...}}');
    }
    const object = parsed as { body: unknown; properties?: unknown };
    for (const key of Object.keys(object)) {
      if (key !== 'body' && key !== 'properties') {
        throw badLine(line, `unknown key "${key}" (only "body" and "properties")`);
      }
    }
    if (object.properties !== undefined) {
      const props = object.properties;
      if (typeof props !== 'object' || props === null || Array.isArray(props)) {
        throw badLine(line, '"properties" must be an object of strings');
      }
      for (const [key, value] of Object.entries(props)) {
        if (typeof value !== 'string') throw badLine(line, `property "${key}" must be a string`);
        if (key.startsWith('_'))
          throw badLine(line, `property "${key}": keys starting with "_" are reserved`);
      }
      properties = props as Record<string, string>;
    }
    payload = utf8.encode(JSON.stringify(object.body));
  }
  const size =
    payload.byteLength + Object.entries(properties).reduce((n, [k, v]) => n + k.length + v.length, 0);
  if (size > maxBytes) {
    throw badLine(line, `the message is ${size} bytes, over --max-message-bytes ${maxBytes}`);
  }
  return newMessage(raw ? TextRecord : JsonRecord)
    .vchannel(vchannel)
    .properties(properties)
    .body(payload)
    .build();
}

/** What `walstream consume` prints for one message: a JSON object on one line. */
export interface RecordLine {
  readonly id: string;
  readonly timeTick: string;
  readonly vchannel: string | undefined;
  readonly type: string;
  /** Present for a message that is part of a txn (the flat view), or a txn (the --txn view). */
  readonly txn?: string;
  readonly body?: unknown;
  /** A body that is not UTF-8 text, in base64. */
  readonly bodyBase64?: string;
  readonly properties?: Readonly<Record<string, string>>;
  /** The --txn view of a txn: its bodies. */
  readonly messages?: readonly RecordLine[];
}

/** A message for output; `txn` view keeps a txn whole, else its bodies come one by one. */
export function toRecordLines(message: ImmutableMessage, txnView: boolean): RecordLine[] {
  if (message instanceof ImmutableTxnMessage) {
    const txn = message.txnContext?.txnId ?? message.commit.txnContext?.txnId;
    const bodies = message.bodies.map((body) => toRecordLine(body, txn));
    if (!txnView) return bodies;
    return [
      {
        id: idText(message),
        timeTick: String(message.timeTick),
        vchannel: message.vchannel,
        type: 'Txn',
        ...(txn === undefined ? {} : { txn: String(txn) }),
        messages: bodies,
      },
    ];
  }
  return [toRecordLine(message, undefined)];
}

function toRecordLine(message: ImmutableMessage, txn: bigint | undefined): RecordLine {
  const type = messageTypes.get(message.messageType)?.name ?? String(message.messageType);
  const properties = message.userProperties;
  const base = {
    id: idText(message),
    timeTick: String(message.timeTick),
    vchannel: message.vchannel,
    type,
    ...(txn === undefined ? {} : { txn: String(txn) }),
  };
  const body = bodyOf(message);
  return { ...base, ...body, ...(Object.keys(properties).length > 0 ? { properties } : {}) };
}

function bodyOf(message: ImmutableMessage): { body?: unknown; bodyBase64?: string } {
  const payload = message.payload;
  if (payload.byteLength === 0) return {};
  let text: string;
  try {
    text = strictUtf8.decode(payload);
  } catch {
    return { bodyBase64: Buffer.from(payload).toString('base64') };
  }
  if (message.messageType === JsonRecord.code) {
    try {
      return { body: JSON.parse(text) };
    } catch {
      return { body: text };
    }
  }
  return { body: text };
}

/** `<walName>:<marshalled id>`, what `consume --from` takes back. */
export function idText(message: ImmutableMessage): string {
  return `${message.id.walName}:${message.id.marshal()}`;
}

const VCHANNEL_LIFECYCLE = new Set(['CreateVChannel', 'DropVChannel']);

/** Messages a reader sees that the application did not write: timeticks, vchannel creation, ... */
export function isApplicationMessage(message: ImmutableMessage): boolean {
  if (message instanceof ImmutableTxnMessage) return true;
  const type = messageTypes.get(message.messageType);
  if (!type) return true;
  return !type.flags.system && !type.flags.selfControlled && !VCHANNEL_LIFECYCLE.has(type.name);
}
