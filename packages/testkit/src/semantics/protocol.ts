import type { ImmutableMessage, TxnContext, Wal } from '@walstream/core';
import {
  beginTxnMessage,
  commitTxnMessage,
  rollbackTxnMessage,
  ShardMessageType,
  shardHeaders,
  shardMessages,
} from '@walstream/interceptors';
import type { SegmentEvent, SemanticsProtocol } from './types.js';

/** Collection ids only need to be unique per vchannel; a process-wide counter is simplest. */
let collectionSeq = 0n;

/** Rows of one Insert: the default segment (1 000 000 rows) is sealed by the fifth insert into it. */
export const INSERT_ROWS = 200_000;

/**
 * The protocol of `@walstream/interceptors`: a vchannel becomes known through a CreateCollection on it
 * (one collection per vchannel, default partition); data goes in as Milvus's Insert, assigned to a growing
 * segment of that partition; a txn starts with a BeginTxn whose header asks for its keepalive.
 */
export const defaultProtocol: SemanticsProtocol = {
  async createVChannel(wal: Wal, vchannel: string): Promise<void> {
    await wal.append(shardMessages.createCollection(vchannel, { collectionId: ++collectionSeq }));
  },
  insert: (vchannel: string, payload: Uint8Array) =>
    shardMessages.insert(vchannel, { rows: INSERT_ROWS }, payload),
  segmentEvent(message: ImmutableMessage): SegmentEvent | undefined {
    switch (message.messageType) {
      case ShardMessageType.Insert: {
        const segment = shardHeaders.insert(message).segmentId;
        return { kind: 'insert', segment: segment === undefined ? '(none)' : String(segment) };
      }
      case ShardMessageType.CreateSegment:
        return { kind: 'create', segment: String(shardHeaders.createSegment(message).segmentId) };
      case ShardMessageType.Flush:
        return { kind: 'flush', segment: String(shardHeaders.flush(message).segmentId) };
      default:
        return undefined;
    }
  },
  beginTxn: (vchannel: string, keepaliveMs: number) => beginTxnMessage(vchannel, { keepaliveMs }),
  commitTxn: (vchannel: string, context: TxnContext) => commitTxnMessage(vchannel, context),
  rollbackTxn: (vchannel: string, context: TxnContext) => rollbackTxnMessage(vchannel, context),
};
