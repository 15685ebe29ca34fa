import { WalError } from '../errors/wal-error.js';
import { asInt64, fromBase64, ProtoWriter, readProtoFields, toBase64 } from '../util/proto.js';

/** The id of "not in a transaction". */
export const NON_TXN_ID = -1n;
/** A keepalive of -1 ms never expires (replicated txns). */
export const INFINITE_KEEPALIVE_MS = -1;

/** Identifies one transaction on one vchannel and how long it may stay idle. */
export interface TxnContext {
  readonly txnId: bigint;
  /** Milliseconds a txn may stay idle before it expires; {@link INFINITE_KEEPALIVE_MS} never expires. */
  readonly keepaliveMs: number;
}

/** The life of a transaction session, with the Milvus numbers. */
export const TxnState = {
  InFlight: 1,
  OnCommit: 2,
  Committed: 3,
  OnRollback: 4,
  RolledBack: 5,
} as const;
export type TxnState = (typeof TxnState)[keyof typeof TxnState];

/** `_tx` = base64 of protobuf `TxnContext{int64 txn_id = 1; int64 keepalive_milliseconds = 2}`. */
export function encodeTxnContext(context: TxnContext): string {
  return toBase64(new ProtoWriter().varint(1, context.txnId).varint(2, BigInt(context.keepaliveMs)).finish());
}

export function decodeTxnContext(text: string): TxnContext {
  let txnId: bigint | undefined;
  let keepaliveMs = 0;
  for (const field of readProtoFields(fromBase64(text))) {
    if (field.wire !== 0) continue;
    if (field.field === 1) txnId = asInt64(field.value);
    if (field.field === 2) keepaliveMs = Number(asInt64(field.value));
  }
  if (txnId === undefined) throw new WalError('INVALID_ARGUMENT', 'txn context has no txn id');
  return { txnId, keepaliveMs };
}
