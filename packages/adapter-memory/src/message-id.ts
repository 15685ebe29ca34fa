import { type MessageID, WalError } from '@walstream/core';
import { assertSameWal, registerMessageIdCodec } from '@walstream/core/spi';

/** The adapter name; also the `walName` of every id this adapter makes. */
export const MEMORY_WAL_NAME = 'memory';

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/**
 * A position in one in-memory pchannel: the index the entry got when it was appended. Offsets start at 0
 * and never repeat on a pchannel, truncation included, so ids stay comparable across reopen and terms.
 */
export class MemoryMessageId implements MessageID {
  readonly walName = MEMORY_WAL_NAME;
  readonly offset: number;

  constructor(offset: number) {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new WalError(
        'INVALID_MESSAGE_ID',
        `a memory MessageID offset must be a safe integer ≥ 0, got ${offset}`,
        {
          retriable: false,
        },
      );
    }
    this.offset = offset;
  }

  /** Decodes {@link MemoryMessageId.marshal}'s decimal form. Throws INVALID_MESSAGE_ID. */
  static unmarshal(marshalled: string): MemoryMessageId {
    if (typeof marshalled !== 'string' || !DECIMAL.test(marshalled)) {
      throw new WalError('INVALID_MESSAGE_ID', `not a memory MessageID: ${JSON.stringify(marshalled)}`, {
        retriable: false,
      });
    }
    return new MemoryMessageId(Number(marshalled));
  }

  compare(other: MessageID): number {
    assertSameWal(this, other);
    return this.offset - asMemoryMessageId(other).offset;
  }

  marshal(): string {
    return String(this.offset);
  }

  toString(): string {
    return `memory:${this.offset}`;
  }
}

/**
 * The memory id behind `id`, or INVALID_MESSAGE_ID. Duck-typed on purpose: a second copy of this package
 * in one process makes ids that are equal in every way but `instanceof`.
 */
export function asMemoryMessageId(id: MessageID): MemoryMessageId {
  if (id instanceof MemoryMessageId) return id;
  if (typeof id !== 'object' || id === null) {
    throw new WalError('INVALID_MESSAGE_ID', `expected a memory MessageID, got ${String(id)}`, {
      retriable: false,
    });
  }
  if (id.walName !== MEMORY_WAL_NAME) {
    throw new WalError(
      'INVALID_MESSAGE_ID',
      `expected a memory MessageID, got a ${String(id.walName)} MessageID`,
      {
        retriable: false,
        details: { id: String(id) },
      },
    );
  }
  const offset = (id as { offset?: unknown }).offset;
  if (typeof offset !== 'number') {
    throw new WalError('INVALID_MESSAGE_ID', `memory MessageID ${String(id)} has no offset`, {
      retriable: false,
    });
  }
  return new MemoryMessageId(offset);
}

// `unmarshalMessageId('memory', …)` works as soon as the package is imported. `memoryAdapter()` registers
// again (a bundler may drop this side effect); core keeps the codec already registered under the name.
registerMessageIdCodec(MEMORY_WAL_NAME, MemoryMessageId.unmarshal);
