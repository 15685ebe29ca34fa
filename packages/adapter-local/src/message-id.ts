import { type MessageID, WalError } from '@walstream/core';
import { assertSameWal, registerMessageIdCodec } from '@walstream/core/spi';

/** The adapter name; also the `walName` of every id this adapter makes. */
export const LOCAL_WAL_NAME = 'local';

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/**
 * A position in one local pchannel: the record's offset, counted from 0 over the pchannel's whole life.
 * Offsets never repeat while the log survives (truncation keeps counting), so ids stay comparable across
 * restarts and terms. Marshalled as the decimal offset.
 */
export class LocalMessageId implements MessageID {
  readonly walName = LOCAL_WAL_NAME;
  readonly offset: number;

  constructor(offset: number) {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new WalError(
        'INVALID_MESSAGE_ID',
        `a local MessageID offset must be a safe integer ≥ 0, got ${offset}`,
        {
          retriable: false,
        },
      );
    }
    this.offset = offset;
  }

  /** Decodes {@link LocalMessageId.marshal}'s decimal form. Throws INVALID_MESSAGE_ID. */
  static unmarshal(marshalled: string): LocalMessageId {
    if (typeof marshalled !== 'string' || !DECIMAL.test(marshalled) || marshalled.length > 16) {
      throw new WalError('INVALID_MESSAGE_ID', `not a local MessageID: ${JSON.stringify(marshalled)}`, {
        retriable: false,
      });
    }
    return new LocalMessageId(Number(marshalled));
  }

  compare(other: MessageID): number {
    assertSameWal(this, other);
    const theirs = asLocalMessageId(other).offset;
    return this.offset < theirs ? -1 : this.offset > theirs ? 1 : 0;
  }

  marshal(): string {
    return String(this.offset);
  }

  toString(): string {
    return `local:${this.offset}`;
  }
}

/**
 * The local id behind `id`, or INVALID_MESSAGE_ID. Duck-typed on purpose: a second copy of this package
 * in one process makes ids that are equal in every way but `instanceof`.
 */
export function asLocalMessageId(id: MessageID): LocalMessageId {
  if (id instanceof LocalMessageId) return id;
  if (typeof id !== 'object' || id === null) {
    throw new WalError('INVALID_MESSAGE_ID', `expected a local MessageID, got ${String(id)}`, {
      retriable: false,
    });
  }
  if (id.walName !== LOCAL_WAL_NAME) {
    throw new WalError(
      'INVALID_MESSAGE_ID',
      `expected a local MessageID, got a ${String(id.walName)} MessageID`,
      {
        retriable: false,
        details: { id: String(id) },
      },
    );
  }
  const offset = (id as { offset?: unknown }).offset;
  if (typeof offset !== 'number') {
    throw new WalError('INVALID_MESSAGE_ID', `local MessageID ${String(id)} has no offset`, {
      retriable: false,
    });
  }
  return new LocalMessageId(offset);
}

// `unmarshalMessageId('local', …)` works as soon as the package is imported. `localAdapter()` registers
// again (a bundler may drop this side effect); core keeps the codec already registered under the name.
registerMessageIdCodec(LOCAL_WAL_NAME, LocalMessageId.unmarshal);
