import { type MessageID, WalError } from '@walstream/core';
import { assertSameWal, registerMessageIdCodec } from '@walstream/core/spi';
import { decodeMessageId, encodeMessageId, type MessageIdData } from './protocol/commands.js';

/** The adapter name; also the `walName` of every id this adapter makes. */
export const PULSAR_WAL_NAME = 'pulsar';

/**
 * A position in one Pulsar topic: (ledger, entry, partition, batch index). Marshalled as Milvus does:
 * standard base64 of the protocol's serialized `MessageIdData`, so ids written into a Milvus log (e.g.
 * a last-confirmed property) stay readable by either. Ordered by (ledger, entry, batch index); the
 * partition is the same for every id of one topic.
 */
export class PulsarMessageId implements MessageID {
  readonly walName = PULSAR_WAL_NAME;
  readonly ledgerId: bigint;
  readonly entryId: bigint;
  readonly partition: number;
  readonly batchIndex: number;
  readonly batchSize: number;

  constructor(data: MessageIdData) {
    this.ledgerId = data.ledgerId;
    this.entryId = data.entryId;
    this.partition = data.partition;
    this.batchIndex = data.batchIndex;
    this.batchSize = data.batchSize;
  }

  static unmarshal(marshalled: string): PulsarMessageId {
    if (typeof marshalled !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(marshalled)) {
      throw invalid(`not a base64 Pulsar MessageID: ${JSON.stringify(marshalled)}`);
    }
    try {
      return new PulsarMessageId(decodeMessageId(new Uint8Array(Buffer.from(marshalled, 'base64'))));
    } catch (error) {
      throw invalid(`not a Pulsar MessageIdData: ${JSON.stringify(marshalled)}`, error);
    }
  }

  get data(): MessageIdData {
    return {
      ledgerId: this.ledgerId,
      entryId: this.entryId,
      partition: this.partition,
      batchIndex: this.batchIndex,
      batchSize: this.batchSize,
    };
  }

  compare(other: MessageID): number {
    assertSameWal(this, other);
    const o = asPulsarMessageId(other);
    if (this.ledgerId !== o.ledgerId) return this.ledgerId < o.ledgerId ? -1 : 1;
    if (this.entryId !== o.entryId) return this.entryId < o.entryId ? -1 : 1;
    return this.batchIndex - o.batchIndex;
  }

  marshal(): string {
    return Buffer.from(encodeMessageId(this.data)).toString('base64');
  }

  toString(): string {
    return this.batchIndex < 0
      ? `pulsar:${this.ledgerId}:${this.entryId}`
      : `pulsar:${this.ledgerId}:${this.entryId}:${this.batchIndex}`;
  }
}

function invalid(message: string, cause?: unknown): WalError {
  return new WalError('INVALID_MESSAGE_ID', message, { retriable: false, cause });
}

/** The Pulsar id behind `id`. Duck-typed: another copy of this package makes equal ids of another class. */
export function asPulsarMessageId(id: MessageID): PulsarMessageId {
  if (id instanceof PulsarMessageId) return id;
  if (typeof id !== 'object' || id === null || id.walName !== PULSAR_WAL_NAME) {
    throw invalid(`expected a pulsar MessageID, got ${String(id)}`);
  }
  const { ledgerId, entryId, partition, batchIndex, batchSize } = id as Partial<PulsarMessageId>;
  if (typeof ledgerId !== 'bigint' || typeof entryId !== 'bigint') {
    throw invalid(`pulsar MessageID ${String(id)} has no ledger and entry`);
  }
  return new PulsarMessageId({
    ledgerId,
    entryId,
    partition: partition ?? -1,
    batchIndex: batchIndex ?? -1,
    batchSize: batchSize ?? 0,
  });
}

// `unmarshalMessageId('pulsar', …)` works as soon as the package is imported. `pulsarAdapter()` registers
// again (a bundler may drop this side effect); core keeps the codec already registered under the name.
registerMessageIdCodec(PULSAR_WAL_NAME, PulsarMessageId.unmarshal);
