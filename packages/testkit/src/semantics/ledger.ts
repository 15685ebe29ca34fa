import type { AppendResult, TxnContext } from '@walstream/core';

/**
 * What the client learnt from one append: `acked` (the WAL said it is durable) or `failed` (it rejected;
 * the message may or may not have landed). The suite's expectations come from these outcomes only, never
 * from what a reader happened to see.
 */
export type Outcome =
  | { readonly status: 'acked'; readonly result: AppendResult }
  | { readonly status: 'failed'; readonly error: unknown };

/** `insert`: a data message the stack assigns to a segment (the protocol's Insert). */
export type PlainKind = 'plain' | 'exclusive' | 'insert' | 'marker';

/** One non-txn append of the schedule. */
export interface PlainRecord {
  readonly key: string;
  readonly kind: PlainKind;
  readonly vchannel: string;
  /** The term of the WAL it was appended through. */
  readonly term: bigint;
  outcome?: Outcome;
}

/**
 * How a schedule meant a txn to end. `commit` and `rollback` end it; `expire` waits past the keepalive
 * and then tries to commit; `abandon` never ends it; `commitAfterReopen` commits through the WAL of the
 * next term.
 */
export type TxnEnd = 'commit' | 'rollback' | 'expire' | 'abandon' | 'commitAfterReopen';

export interface TxnBodyRecord {
  readonly key: string;
  outcome?: Outcome;
}

/** One transaction of the schedule, step by step. */
export interface TxnRecord {
  /** The key of its BeginTxn; its CommitTxn and RollbackTxn carry `${key}/commit` and `${key}/rollback`. */
  readonly key: string;
  readonly vchannel: string;
  readonly keepaliveMs: number;
  readonly end: TxnEnd;
  begin?: Outcome;
  readonly bodies: TxnBodyRecord[];
  /** Set when a CommitTxn was appended (whatever the outcome). */
  commit?: Outcome;
  /** Set when a RollbackTxn was appended. */
  rollback?: Outcome;
  /** The context the begin returned; bodies, commit and rollback carry it. */
  context?: TxnContext;
  /** The highest acknowledged timetick of the txn so far: its keepalive counts from here. */
  lastActivity?: bigint;
}

/**
 * Everything one schedule appended, by key. Readers' deliveries are judged against it: an acknowledged
 * message must be read exactly once, a failed one at most once, and nothing else may appear.
 */
export class Ledger {
  readonly runId: string;
  readonly plain = new Map<string, PlainRecord>();
  readonly txns = new Map<string, TxnRecord>();
  /** Body key → its txn, to tell a leaked body from an unknown message. */
  readonly bodyOwner = new Map<string, TxnRecord>();
  #seq = 0;

  constructor(runId: string) {
    this.runId = runId;
  }

  /** A key no other append of this run uses; carried in the user property `k`. */
  nextKey(label: string): string {
    return `${this.runId}/${label}${++this.#seq}`;
  }

  addPlain(kind: PlainKind, vchannel: string, term: bigint): PlainRecord {
    const record: PlainRecord = { key: this.nextKey(kind[0]!), kind, vchannel, term };
    this.plain.set(record.key, record);
    return record;
  }

  addTxn(vchannel: string, keepaliveMs: number, end: TxnEnd): TxnRecord {
    const record: TxnRecord = { key: this.nextKey('t'), vchannel, keepaliveMs, end, bodies: [] };
    this.txns.set(record.key, record);
    return record;
  }

  addBody(txn: TxnRecord): TxnBodyRecord {
    const body: TxnBodyRecord = { key: `${txn.key}/b${txn.bodies.length}` };
    txn.bodies.push(body);
    this.bodyOwner.set(body.key, txn);
    return body;
  }

  /** The txn whose commit key is `key`. */
  txnOfCommitKey(key: string): TxnRecord | undefined {
    return key.endsWith('/commit') ? this.txns.get(key.slice(0, -'/commit'.length)) : undefined;
  }

  /** The markers appended last, one per vchannel, that tell readers they reached the end. */
  markers(): PlainRecord[] {
    return [...this.plain.values()].filter((record) => record.kind === 'marker');
  }
}

export function isAcked(outcome: Outcome | undefined): outcome is Extract<Outcome, { status: 'acked' }> {
  return outcome?.status === 'acked';
}

/**
 * Whether the txn may be visible at all: only a txn whose commit was appended. An acknowledged commit
 * must be visible; a failed commit may be.
 */
export function commitAttempted(txn: TxnRecord): boolean {
  return txn.commit !== undefined;
}
