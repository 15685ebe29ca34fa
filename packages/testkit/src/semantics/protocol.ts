import type { TxnContext, Wal } from '@walstream/core';
import {
  beginTxnMessage,
  commitTxnMessage,
  rollbackTxnMessage,
  shardMessages,
} from '@walstream/interceptors';
import type { SemanticsProtocol } from './types.js';

/** Collection ids only need to be unique per vchannel; a process-wide counter is simplest. */
let collectionSeq = 0n;

/**
 * The protocol of `@walstream/interceptors`: a vchannel becomes known through a CreateCollection on it
 * (one collection per vchannel, default partition); a txn starts with a BeginTxn whose header asks for
 * its keepalive.
 */
export const defaultProtocol: SemanticsProtocol = {
  async createVChannel(wal: Wal, vchannel: string): Promise<void> {
    await wal.append(shardMessages.createCollection(vchannel, { collectionId: ++collectionSeq }));
  },
  beginTxn: (vchannel: string, keepaliveMs: number) => beginTxnMessage(vchannel, { keepaliveMs }),
  commitTxn: (vchannel: string, context: TxnContext) => commitTxnMessage(vchannel, context),
  rollbackTxn: (vchannel: string, context: TxnContext) => rollbackTxnMessage(vchannel, context),
};
