import { WalError } from '../errors/wal-error.js';
import { addMilliseconds, MAX_TIMETICK } from '../timetick/hybrid.js';
import { ImmutableMessage } from './message.js';
import { SystemMessageType } from './message-type.js';
import { encodeBase36, SystemProperty as P } from './properties.js';
import { INFINITE_KEEPALIVE_MS } from './txn-context.js';

/**
 * A committed transaction as readers see it: one message of type Txn at the commit's position, whose
 * bodies all carry the commit's timetick and last-confirmed id.
 */
export class ImmutableTxnMessage extends ImmutableMessage {
  readonly begin: ImmutableMessage;
  readonly bodies: readonly ImmutableMessage[];
  readonly commit: ImmutableMessage;

  constructor(begin: ImmutableMessage, bodies: readonly ImmutableMessage[], commit: ImmutableMessage) {
    super(commit.id, new Uint8Array(0), {
      ...commit.properties,
      [P.messageType]: String(SystemMessageType.Txn),
    });
    this.begin = begin;
    this.commit = commit;
    const commitView = lastConfirmedOverrides(commit);
    this.bodies = bodies.map((body) => body.withOverrides(commitView, [P.lastConfirmedIsSelf]));
  }

  override estimateSize(): number {
    return this.bodies.reduce((sum, body) => sum + body.estimateSize(), 0);
  }

  /** Begin, bodies, commit: the flattened form used on the wire. */
  *flatten(): Generator<ImmutableMessage> {
    yield this.begin;
    yield* this.bodies;
    yield this.commit;
  }
}

function lastConfirmedOverrides(commit: ImmutableMessage): Record<string, string> {
  const overrides: Record<string, string> = { [P.timeTick]: encodeBase36(commit.timeTick) };
  const props = commit.properties;
  const lastConfirmed = props[P.lastConfirmed];
  if (props[P.lastConfirmedIsSelf] !== undefined) {
    // The commit is its own LC; a body must point at the commit's id, not at itself.
    overrides[P.lastConfirmed] = commit.id.marshal();
  } else if (lastConfirmed !== undefined) {
    overrides[P.lastConfirmed] = lastConfirmed;
  }
  return overrides;
}

/** Collects one transaction's messages while it is open, the way a reader's txn buffer does. */
export class ImmutableTxnMessageBuilder {
  readonly begin: ImmutableMessage;
  readonly #bodies: ImmutableMessage[] = [];
  #lastTimeTick: bigint;

  constructor(begin: ImmutableMessage) {
    if (begin.messageType !== SystemMessageType.BeginTxn || !begin.txnContext) {
      throw new WalError(
        'INVALID_ARGUMENT',
        'a txn starts with a BeginTxn message that carries a txn context',
      );
    }
    this.begin = begin;
    this.#lastTimeTick = begin.timeTick;
  }

  get txnId(): bigint {
    return this.begin.txnContext!.txnId;
  }

  get size(): number {
    return this.#bodies.length;
  }

  add(body: ImmutableMessage): this {
    this.#bodies.push(body);
    if (body.timeTick > this.#lastTimeTick) this.#lastTimeTick = body.timeTick;
    return this;
  }

  /** The timetick at which an idle txn expires: the last activity plus its keepalive. */
  expiredTimeTick(): bigint {
    const keepaliveMs = this.begin.txnContext!.keepaliveMs;
    if (keepaliveMs === INFINITE_KEEPALIVE_MS) return MAX_TIMETICK;
    return addMilliseconds(this.#lastTimeTick, keepaliveMs);
  }

  build(commit: ImmutableMessage): ImmutableTxnMessage {
    if (commit.messageType !== SystemMessageType.CommitTxn) {
      throw new WalError('INVALID_ARGUMENT', 'a txn is built from its CommitTxn message');
    }
    return new ImmutableTxnMessage(this.begin, this.#bodies, commit);
  }
}
