import { WalError } from '../errors/wal-error.js';
import { type MessageID, unmarshalMessageId } from '../message-id/message-id.js';
import { type BroadcastHeader, decodeBroadcastHeader, encodeBroadcastHeader } from './broadcast.js';
import { SystemMessageType } from './message-type.js';
import {
  decodeBase36,
  encodeBase36,
  MessageVersion,
  SystemProperty as P,
  type Properties,
} from './properties.js';
import { decodeTxnContext, encodeTxnContext, type TxnContext } from './txn-context.js';

/** What both message forms expose: payload bytes and string properties, with typed views of the system ones. */
abstract class MessageView {
  abstract readonly payload: Uint8Array;
  protected abstract readonly props: Record<string, string>;

  get properties(): Properties {
    return this.props;
  }

  /** The `_t` number; 0 (Unknown) when absent. */
  get messageType(): number {
    const raw = this.props[P.messageType];
    return raw === undefined ? SystemMessageType.Unknown : Number(raw);
  }

  get version(): number {
    const raw = this.props[P.version];
    return raw === undefined ? MessageVersion.Old : Number(raw);
  }

  /** The vchannel, or undefined for a message meant for every vchannel of its pchannel. */
  get vchannel(): string | undefined {
    return this.props[P.vchannel];
  }

  get txnContext(): TxnContext | undefined {
    const raw = this.props[P.txnContext];
    return raw === undefined ? undefined : decodeTxnContext(raw);
  }

  get broadcastHeader(): BroadcastHeader | undefined {
    const raw = this.props[P.broadcastHeader];
    return raw === undefined ? undefined : decodeBroadcastHeader(raw);
  }

  get barrierTimeTick(): bigint | undefined {
    const raw = this.props[P.barrierTimeTick];
    return raw === undefined ? undefined : decodeBase36(raw, 'barrier timetick');
  }

  /** The term of the WAL that wrote the message (informational). */
  get walTerm(): bigint | undefined {
    const raw = this.props[P.walTerm];
    return raw === undefined ? undefined : decodeBase36(raw, 'wal term');
  }

  /** False only for TimeTick messages that are delivered to local readers without being written. */
  get persisted(): boolean {
    return this.props[P.notPersisted] === undefined;
  }

  /** The user (non-`_`) properties. */
  get userProperties(): Properties {
    const user: Record<string, string> = {};
    for (const key in this.props) if (!key.startsWith('_')) user[key] = this.props[key]!;
    return user;
  }

  /** Payload length plus the length of every property key and value, as the original estimates. */
  estimateSize(): number {
    let size = this.payload.byteLength;
    for (const key in this.props) size += key.length + this.props[key]!.length;
    return size;
  }
}

/**
 * A message before it is appended. Interceptors stamp system properties on it (timetick, last-confirmed,
 * txn context); the adapter writes its payload and properties and returns a MessageID.
 */
export class MutableMessage extends MessageView {
  readonly payload: Uint8Array;
  protected readonly props: Record<string, string>;
  /** Decoded `_tt`, kept beside the property so the append path never parses what it just wrote. */
  #timeTick: bigint | undefined;
  /**
   * A frozen copy of the properties, made by the first {@link intoImmutable} after the last change: the
   * adapter and the interceptors that keep the written message (the write-ahead buffer) share it.
   */
  #snapshot: Readonly<Record<string, string>> | undefined;

  constructor(payload: Uint8Array, properties: Properties) {
    super();
    this.payload = payload;
    this.props = { ...properties };
  }

  /** The timetick, or undefined before the timetick interceptor assigned one. */
  get timeTick(): bigint | undefined {
    if (this.#timeTick === undefined) {
      const raw = this.props[P.timeTick];
      if (raw !== undefined) this.#timeTick = decodeBase36(raw, 'timetick');
    }
    return this.#timeTick;
  }

  withTimeTick(timeTick: bigint): this {
    this.#set(P.timeTick, encodeBase36(timeTick));
    this.#timeTick = timeTick;
    return this;
  }

  withLastConfirmed(id: MessageID): this {
    this.#delete(P.lastConfirmedIsSelf);
    this.#set(P.lastConfirmed, id.marshal());
    return this;
  }

  /** The message is its own last-confirmed position (the first message of a term). */
  withLastConfirmedUseMessageId(): this {
    this.#delete(P.lastConfirmed);
    this.#set(P.lastConfirmedIsSelf, '');
    return this;
  }

  withTxnContext(context: TxnContext): this {
    this.#set(P.txnContext, encodeTxnContext(context));
    return this;
  }

  withBroadcastHeader(header: BroadcastHeader): this {
    this.#set(P.broadcastHeader, encodeBroadcastHeader(header));
    return this;
  }

  withVChannel(vchannel: string): this {
    this.#set(P.vchannel, vchannel);
    return this;
  }

  withBarrierTimeTick(timeTick: bigint): this {
    return this.#setOnce(P.barrierTimeTick, encodeBase36(timeTick), 'barrier timetick');
  }

  withWalTerm(term: bigint | string): this {
    return this.#setOnce(P.walTerm, typeof term === 'string' ? term : encodeBase36(term), 'wal term');
  }

  withNotPersisted(): this {
    if (this.messageType !== SystemMessageType.TimeTick) {
      throw new WalError('INVALID_ARGUMENT', 'only TimeTick messages may be marked not persisted');
    }
    this.#set(P.notPersisted, '');
    return this;
  }

  /** Sets one property; reserved keys are for interceptors and adapters that know their meaning. */
  withProperty(key: string, value: string): this {
    if (key === P.timeTick) this.#timeTick = undefined;
    this.#set(key, value);
    return this;
  }

  clone(): MutableMessage {
    return new MutableMessage(this.payload, this.props);
  }

  /** The message as written at `id`. Properties are copied; the payload is shared. */
  intoImmutable(id: MessageID): ImmutableMessage {
    this.#snapshot ??= Object.freeze(Object.assign({}, this.props));
    return new ImmutableMessage(id, this.payload, this.#snapshot);
  }

  #set(key: string, value: string): void {
    this.props[key] = value;
    this.#snapshot = undefined;
  }

  #delete(key: string): void {
    if (!(key in this.props)) return;
    delete this.props[key];
    this.#snapshot = undefined;
  }

  #setOnce(key: string, value: string, what: string): this {
    const existing = this.props[key];
    if (existing === value) return this;
    if (existing !== undefined) {
      throw new WalError('INVALID_ARGUMENT', `${what} is already set on this message`);
    }
    this.#set(key, value);
    return this;
  }
}

/** A message as it is in the log: an id, the payload and the properties it was written with. */
export class ImmutableMessage extends MessageView {
  readonly id: MessageID;
  readonly payload: Uint8Array;
  protected readonly props: Record<string, string>;
  #timeTick: bigint | undefined;

  constructor(id: MessageID, payload: Uint8Array, properties: Properties) {
    super();
    this.id = id;
    this.payload = payload;
    // A frozen object is immutable already and can be shared (MutableMessage.intoImmutable hands out one
    // snapshot to every caller). Object.assign, not a spread: spread-then-freeze is an order of magnitude
    // slower on Node 20.
    this.props = Object.isFrozen(properties) ? properties : Object.freeze(Object.assign({}, properties));
  }

  get walName(): string {
    return this.id.walName;
  }

  /** The timetick the WAL gave the message. Every message that went through the runtime has one. */
  get timeTick(): bigint {
    if (this.#timeTick === undefined) {
      const raw = this.props[P.timeTick];
      if (raw === undefined) {
        throw new WalError('INVALID_ARGUMENT', `message ${this.id.toString()} carries no timetick`);
      }
      this.#timeTick = decodeBase36(raw, 'timetick');
    }
    return this.#timeTick;
  }

  get hasTimeTick(): boolean {
    return this.props[P.timeTick] !== undefined;
  }

  /** A position from which a reader sees every message with a timetick ≥ this one's. */
  get lastConfirmedId(): MessageID {
    if (this.props[P.lastConfirmedIsSelf] !== undefined) return this.id;
    const raw = this.props[P.lastConfirmed];
    if (raw === undefined) {
      throw new WalError('INVALID_MESSAGE_ID', `message ${this.id.toString()} carries no last-confirmed id`);
    }
    return unmarshalMessageId(this.id.walName, raw);
  }

  get hasLastConfirmed(): boolean {
    return this.props[P.lastConfirmedIsSelf] !== undefined || this.props[P.lastConfirmed] !== undefined;
  }

  /** A copy with some properties replaced or removed (used to give txn bodies their commit timetick). */
  withOverrides(overrides: Properties, remove: readonly string[] = []): ImmutableMessage {
    const props: Record<string, string> = { ...this.props, ...overrides };
    for (const key of remove) delete props[key];
    return new ImmutableMessage(this.id, this.payload, props);
  }
}
