import { type MessageID, WalError } from '@walstream/core';
import { assertSameWal, registerMessageIdCodec } from '@walstream/core/spi';

/** The adapter name; also the `walName` of every id this adapter makes. */
export const KAFKA_WAL_NAME = 'kafka';

const BASE36 = /^[0-9a-z]+$/;

/**
 * A position in one Kafka pchannel: the offset of the record in partition 0 of its topic. Marshalled
 * base-36 like Milvus's Kafka adapter, so ids written into message properties stay readable by both.
 * Offsets are not contiguous (transaction markers take offsets too), only increasing.
 */
export class KafkaMessageId implements MessageID {
  readonly walName = KAFKA_WAL_NAME;
  readonly offset: bigint;

  constructor(offset: bigint) {
    if (typeof offset !== 'bigint' || offset < 0n) {
      throw new WalError(
        'INVALID_MESSAGE_ID',
        `a kafka MessageID offset must be a bigint ≥ 0, got ${String(offset)}`,
        {
          retriable: false,
        },
      );
    }
    this.offset = offset;
  }

  static unmarshal(marshalled: string): KafkaMessageId {
    if (typeof marshalled !== 'string' || !BASE36.test(marshalled) || marshalled.length > 13) {
      throw new WalError('INVALID_MESSAGE_ID', `not a kafka MessageID: ${JSON.stringify(marshalled)}`, {
        retriable: false,
      });
    }
    let offset = 0n;
    for (const char of marshalled) offset = offset * 36n + BigInt(Number.parseInt(char, 36));
    return new KafkaMessageId(offset);
  }

  compare(other: MessageID): number {
    assertSameWal(this, other);
    const theirs = asKafkaMessageId(other).offset;
    return this.offset < theirs ? -1 : this.offset > theirs ? 1 : 0;
  }

  marshal(): string {
    return this.offset.toString(36);
  }

  toString(): string {
    return `kafka:${this.offset}`;
  }
}

/** The kafka id behind `id`, or INVALID_MESSAGE_ID. Duck-typed: a second copy of this package may exist. */
export function asKafkaMessageId(id: MessageID): KafkaMessageId {
  if (id instanceof KafkaMessageId) return id;
  if (typeof id !== 'object' || id === null || id.walName !== KAFKA_WAL_NAME) {
    throw new WalError(
      'INVALID_MESSAGE_ID',
      `expected a kafka MessageID, got ${typeof id === 'object' && id !== null ? `a ${String(id.walName)} MessageID` : String(id)}`,
      { retriable: false },
    );
  }
  const offset = (id as { offset?: unknown }).offset;
  if (typeof offset !== 'bigint') {
    throw new WalError('INVALID_MESSAGE_ID', `kafka MessageID ${String(id)} has no offset`, {
      retriable: false,
    });
  }
  return new KafkaMessageId(offset);
}

// `unmarshalMessageId('kafka', …)` works as soon as the package is imported. `kafkaAdapter()` registers
// again (a bundler may drop this side effect); core keeps the codec already registered under the name.
registerMessageIdCodec(KAFKA_WAL_NAME, KafkaMessageId.unmarshal);
