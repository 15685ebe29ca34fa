import {
  type MutableMessage,
  newMessage,
  SystemMessageType,
  type TxnContext,
  WalError,
} from '@walstream/core';
import { encodeHeaderBytes, optionalCount, readHeader } from '../header-json.js';

export interface BeginTxnOptions {
  /** Idle time after which the txn expires; 0 or absent = the WAL's default (10 s). */
  readonly keepaliveMs?: number;
}

/** A BeginTxn for `vchannel`. Its header is `{"keepaliveMs": n}`; the append result carries the txn context. */
export function beginTxnMessage(vchannel: string, options: BeginTxnOptions = {}): MutableMessage {
  return newMessage(SystemMessageType.BeginTxn)
    .vchannel(vchannel)
    .header(encodeHeaderBytes({ keepaliveMs: options.keepaliveMs ?? 0 }))
    .build();
}

/** Puts `message` into the txn: it becomes a body message. */
export function inTxn(message: MutableMessage, txn: TxnContext): MutableMessage {
  return message.withTxnContext(txn);
}

export function commitTxnMessage(vchannel: string, txn: TxnContext): MutableMessage {
  return newMessage(SystemMessageType.CommitTxn).vchannel(vchannel).build().withTxnContext(txn);
}

export function rollbackTxnMessage(vchannel: string, txn: TxnContext): MutableMessage {
  return newMessage(SystemMessageType.RollbackTxn).vchannel(vchannel).build().withTxnContext(txn);
}

/** The keepalive a BeginTxn asks for (0 when it does not say). */
export function requestedKeepalive(message: MutableMessage): number {
  const header = readHeader(message, 'BeginTxn');
  const fromHeader = header.keepaliveMs;
  if (fromHeader !== undefined) {
    if (typeof fromHeader !== 'number' || !Number.isFinite(fromHeader)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `BeginTxn: keepaliveMs must be a number, got ${JSON.stringify(fromHeader)}`,
      );
    }
    return fromHeader;
  }
  // A begin that carries a txn context (e.g. replicated) states its keepalive there.
  return message.txnContext?.keepaliveMs ?? optionalCount(header, 'keepalive_milliseconds', 'BeginTxn') ?? 0;
}
