import { WalError } from '../errors/wal-error.js';
import { toBase64 } from '../util/proto.js';
import type { BroadcastHeader, ResourceKey } from './broadcast.js';
import { MutableMessage } from './message.js';
import { type MessageTypeDefinition, messageTypes, SystemMessageType } from './message-type.js';
import { assertUserProperties, MessageVersion, SystemProperty as P, type Properties } from './properties.js';

type Target =
  | { kind: 'none' }
  | { kind: 'vchannel'; vchannel: string }
  | { kind: 'all' }
  | { kind: 'broadcast'; vchannels: string[]; resourceKeys: ResourceKey[] };

/**
 * Builds a {@link MutableMessage} of one type. Exactly one target is required: a vchannel, every vchannel
 * of the pchannel, or a broadcast to several vchannels.
 */
export class MessageBuilder<Body> {
  readonly #type: MessageTypeDefinition<Body>;
  #target: Target = { kind: 'none' };
  #payload: Uint8Array = new Uint8Array(0);
  #header: Uint8Array | undefined;
  #properties: Record<string, string> = {};
  #notPersisted = false;

  constructor(type: MessageTypeDefinition<Body>) {
    this.#type = type;
  }

  vchannel(vchannel: string): this {
    if (!vchannel) throw new WalError('INVALID_ARGUMENT', 'vchannel name must not be empty');
    return this.#setTarget({ kind: 'vchannel', vchannel });
  }

  allVChannels(): this {
    return this.#setTarget({ kind: 'all' });
  }

  broadcast(vchannels: readonly string[], resourceKeys: readonly ResourceKey[] = []): this {
    const unique = [...new Set(vchannels)];
    if (unique.length === 0)
      throw new WalError('INVALID_ARGUMENT', 'a broadcast needs at least one vchannel');
    return this.#setTarget({ kind: 'broadcast', vchannels: unique, resourceKeys: [...resourceKeys] });
  }

  /** The body; encoded with the type's codec when it has one, else it must already be bytes. */
  body(body: Body): this {
    if (this.#type.codec) this.#payload = this.#type.codec.encode(body);
    else if (body instanceof Uint8Array) this.#payload = body;
    else
      throw new WalError(
        'INVALID_ARGUMENT',
        `message type ${this.#type.name} has no codec: its body must be a Uint8Array`,
      );
    return this;
  }

  /** A specialized header, already encoded (written base64 to `_h`). */
  header(header: Uint8Array): this {
    this.#header = header;
    return this;
  }

  properties(properties: Properties): this {
    assertUserProperties(properties);
    Object.assign(this.#properties, properties);
    return this;
  }

  property(key: string, value: string): this {
    return this.properties({ [key]: value });
  }

  notPersisted(): this {
    if (this.#type.code !== SystemMessageType.TimeTick) {
      throw new WalError('INVALID_ARGUMENT', 'only TimeTick messages may be marked not persisted');
    }
    this.#notPersisted = true;
    return this;
  }

  build(): MutableMessage {
    const target = this.#target;
    if (target.kind === 'none') {
      throw new WalError(
        'INVALID_ARGUMENT',
        `message ${this.#type.name} needs a target: vchannel(), allVChannels() or broadcast()`,
      );
    }
    const props: Record<string, string> = {
      ...this.#properties,
      [P.messageType]: String(this.#type.code),
      [P.version]: String(MessageVersion.V2),
    };
    if (this.#header) props[P.header] = toBase64(this.#header);
    if (this.#notPersisted) props[P.notPersisted] = '';
    const message = new MutableMessage(this.#payload, props);
    if (target.kind === 'vchannel') message.withVChannel(target.vchannel);
    if (target.kind === 'broadcast') {
      const header: BroadcastHeader = {
        broadcastId: 0n,
        vchannels: target.vchannels,
        resourceKeys: target.resourceKeys,
      };
      message.withBroadcastHeader(header);
    }
    return message;
  }

  #setTarget(target: Target): this {
    if (this.#target.kind !== 'none') {
      throw new WalError(
        'INVALID_ARGUMENT',
        'a message has exactly one target: vchannel, all vchannels or broadcast',
      );
    }
    this.#target = target;
    return this;
  }
}

/**
 * Starts a message of a registered type, given by its definition (typed body), name or number.
 *
 * ```ts
 * const insert = defineMessageType({ name: 'Insert', code: 2, flags: { data: true } });
 * const msg = newMessage(insert).vchannel('orders_v0').body(bytes).build();
 * ```
 */
export function newMessage<Body>(type: MessageTypeDefinition<Body>): MessageBuilder<Body>;
export function newMessage(type: string | number): MessageBuilder<Uint8Array>;
export function newMessage(type: MessageTypeDefinition<unknown> | string | number): MessageBuilder<unknown> {
  const definition = typeof type === 'object' ? type : messageTypes.require(type);
  return new MessageBuilder(definition);
}

/** Splits a broadcast message into one message per vchannel, once the coordinator gave it an id. */
export function splitBroadcast(message: MutableMessage): MutableMessage[] {
  const header = message.broadcastHeader;
  if (!header) throw new WalError('INVALID_ARGUMENT', 'not a broadcast message');
  if (header.broadcastId === 0n)
    throw new WalError('INVALID_ARGUMENT', 'a broadcast is split only after it has an id');
  return header.vchannels.map((vchannel) => message.clone().withVChannel(vchannel));
}

/** Decodes the body of a message of a type that has a codec. */
export function decodeBody<Body>(
  type: MessageTypeDefinition<Body>,
  message: { payload: Uint8Array; messageType: number },
): Body {
  if (message.messageType !== type.code) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `message of type ${message.messageType} is not a ${type.name} (${type.code})`,
    );
  }
  if (!type.codec) return message.payload as Body;
  return type.codec.decode(message.payload);
}
