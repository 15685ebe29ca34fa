import { WalError } from '../errors/wal-error.js';
import { processWide } from '../util/process-wide.js';

/**
 * A position in one pchannel, defined by the adapter. Ids of one adapter are totally ordered in append
 * order on one pchannel; ids of different adapters are never comparable.
 */
export interface MessageID {
  /** The adapter that made the id (`memory`, `kafka`, `pulsar`, ...). */
  readonly walName: string;
  /** Negative, zero or positive as this id is before, equal to or after `other`. */
  compare(other: MessageID): number;
  /** The id as a string that {@link unmarshalMessageId} turns back into an equal id. */
  marshal(): string;
  toString(): string;
}

export type MessageIdUnmarshaler = (marshalled: string) => MessageID;

/** Registry of MessageID decoders by adapter name. */
export class MessageIdRegistry {
  readonly #codecs = new Map<string, MessageIdUnmarshaler>();

  register(walName: string, unmarshal: MessageIdUnmarshaler): void {
    if (this.#codecs.has(walName)) {
      throw new WalError(
        'ALREADY_REGISTERED',
        `a MessageID codec for adapter ${JSON.stringify(walName)} is already registered`,
      );
    }
    this.#codecs.set(walName, unmarshal);
  }

  /**
   * Registers unless a codec for `walName` is already there. Adapters call this at import time; a second
   * copy of the same adapter in one process (its ESM and its CJS build) finds its codec registered and
   * keeps it. Use {@link register} to be told about a clash.
   */
  ensure(walName: string, unmarshal: MessageIdUnmarshaler): void {
    if (!this.#codecs.has(walName)) this.#codecs.set(walName, unmarshal);
  }

  has(walName: string): boolean {
    return this.#codecs.has(walName);
  }

  unmarshal(walName: string, marshalled: string): MessageID {
    const codec = this.#codecs.get(walName);
    if (!codec) {
      throw new WalError(
        'NOT_REGISTERED',
        `no MessageID codec registered for adapter ${JSON.stringify(walName)}`,
      );
    }
    try {
      return codec(marshalled);
    } catch (error) {
      throw new WalError(
        'INVALID_MESSAGE_ID',
        `cannot decode a ${walName} MessageID from ${JSON.stringify(marshalled)}`,
        {
          cause: error,
          retriable: false,
        },
      );
    }
  }
}

/** The process-wide MessageID registry, shared by every copy of this package. */
export const messageIds: MessageIdRegistry = processWide('message-ids.v1', () => new MessageIdRegistry());

export function registerMessageIdCodec(walName: string, unmarshal: MessageIdUnmarshaler): void {
  messageIds.ensure(walName, unmarshal);
}

export function unmarshalMessageId(walName: string, marshalled: string): MessageID {
  return messageIds.unmarshal(walName, marshalled);
}

/** Throws INVALID_MESSAGE_ID unless both ids come from the same adapter. Adapters call it in `compare`. */
export function assertSameWal(a: MessageID, b: MessageID): void {
  if (a.walName !== b.walName) {
    throw new WalError(
      'INVALID_MESSAGE_ID',
      `cannot compare a ${a.walName} MessageID with a ${b.walName} MessageID`,
      {
        retriable: false,
        details: { left: a.toString(), right: b.toString() },
      },
    );
  }
}

export function compareMessageIds(a: MessageID, b: MessageID): number {
  assertSameWal(a, b);
  return a.compare(b);
}

export function messageIdEquals(a: MessageID, b: MessageID): boolean {
  return compareMessageIds(a, b) === 0;
}

export function messageIdLess(a: MessageID, b: MessageID): boolean {
  return compareMessageIds(a, b) < 0;
}

export function maxMessageId(a: MessageID, b: MessageID): MessageID {
  return compareMessageIds(a, b) >= 0 ? a : b;
}
