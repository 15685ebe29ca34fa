import {
  hasCode,
  type MutableMessage,
  pchannelOfVChannel,
  SystemMessageType,
  type TxnContext,
  WalError,
} from '@walstream/core';
import { abortable, delay } from '@walstream/core/internal';
import { toWalError } from '@walstream/core/spi';
import { beginTxnMessage, commitTxnMessage, inTxn, rollbackTxnMessage } from '@walstream/interceptors';
import { toWireMessage, type WireAppendResult } from '@walstream/rpc';
import type { ChannelOwner } from '../assignment/watcher.js';
import { type Deadline, deadline } from '../deadline.js';
import { type ProducerContext, signalError, worthAnotherOwner } from '../producer/producer.js';
import { ProduceSession } from '../producer/session.js';

export interface TxnOptions {
  /**
   * How long the txn may idle (no message of it landing) before the node expires it. 0 or absent: the
   * node's default (10 s).
   */
  readonly keepaliveMs?: number;
  /** Aborts the begin (the txn then never started as far as readers can tell). */
  readonly signal?: AbortSignal;
}

export interface TxnCallOptions {
  readonly signal?: AbortSignal;
}

/**
 * A transaction on one vchannel: readers see its messages as one unit at the commit's timetick, or never.
 * Its messages go on a Produce stream of its own, to the owner of the vchannel's pchannel.
 */
export interface Txn {
  readonly vchannel: string;
  /** The txn context every message of it carries (`txnId` is the begin's timetick). */
  readonly context: TxnContext;
  /** `open` until commit or rollback; `failed` when it can no longer commit (see the error it threw). */
  readonly state: 'open' | 'committing' | 'committed' | 'rolling-back' | 'rolled-back' | 'failed';
  /** Adds a message (of this vchannel, or without one) to the txn. */
  append(message: MutableMessage, options?: TxnCallOptions): Promise<WireAppendResult>;
  /** Waits for the txn's appends, then commits: the result is the commit's, readers see the txn at its timetick. */
  commit(options?: TxnCallOptions): Promise<WireAppendResult>;
  /** Makes sure readers never see the txn. Resolves also for a txn that failed (it expires on the node). */
  rollback(options?: TxnCallOptions): Promise<void>;
}

export interface TxnContextOptions extends ProducerContext {
  readonly appendTimeoutMs: number;
}

function sizeOf(message: MutableMessage): number {
  let bytes = message.payload.byteLength;
  for (const [key, value] of Object.entries(message.properties)) bytes += key.length + value.length;
  return bytes;
}

/** Whether a failed try said it did not land (so it may be sent again on the same stream or a new one). */
function notWritten(error: WalError): boolean {
  return error.details.written === false;
}

/**
 * Opens a Produce stream to `owner` that lives until the txn ends or the client closes — not until the
 * call that opened it does — waiting for it no longer than `signal` allows.
 */
async function openSession(
  context: TxnContextOptions,
  owner: ChannelOwner,
  signal: AbortSignal,
): Promise<ProduceSession> {
  const opening = ProduceSession.open(context.connect(owner.address), owner, context.stop);
  try {
    return await abortable(opening, signal, () => signalError(signal));
  } catch (error) {
    // Given up on: a stream that opens after all is closed at once.
    void opening.then(
      (late) => late.cancel(new WalError('CLOSED', 'nobody waits for this txn stream')),
      () => {},
    );
    throw error;
  }
}

/**
 * Begins a txn on `vchannel`: opens a Produce stream to the owner of its pchannel and appends the
 * BeginTxn there. A begin that fails before the txn exists is tried again (on the next owner when the
 * current one goes) until `appendTimeoutMs`: a begin that landed without its result reaching us only
 * leaves a txn nobody commits, which expires unseen.
 */
export async function beginTxn(
  vchannel: string,
  options: TxnOptions,
  context: TxnContextOptions,
): Promise<Txn> {
  const pchannel = pchannelOfVChannel(vchannel);
  const begin = beginTxnMessage(
    vchannel,
    options.keepaliveMs === undefined ? {} : { keepaliveMs: options.keepaliveMs },
  );
  const wire = toWireMessage(begin);
  const call = deadline(
    `begin of a txn on ${vchannel}`,
    context.appendTimeoutMs,
    context.stop,
    options.signal,
  );
  const { backoff } = context;
  let wait = backoff.initialMs;
  let failedTerm: bigint | undefined;
  try {
    for (;;) {
      if (call.signal.aborted) throw signalError(call.signal);
      let session: ProduceSession | undefined;
      try {
        const owner = await context.watcher.owner(
          pchannel,
          call.signal,
          failedTerm,
          failedTerm === undefined ? undefined : wait,
        );
        session = await openSession(context, owner, call.signal);
        const result = await session.append(wire, sizeOf(begin), call.signal);
        if (!result.txn) {
          session.cancel(new WalError('CLOSED', 'txn not begun'));
          throw new WalError(
            'UNKNOWN',
            `the node answered the BeginTxn on ${vchannel} without a txn context`,
            {
              retriable: false,
            },
          );
        }
        return new ClientTxn(vchannel, result.txn, session, context);
      } catch (raw) {
        const error = toWalError(raw);
        if (call.signal.aborted) throw signalError(call.signal);
        if (!worthAnotherOwner(error)) {
          session?.cancel(error);
          throw error;
        }
        if (session && !hasCode(error, 'RATE_LIMIT_REJECTED')) {
          failedTerm = session.owner.pchannel.term;
          void context.watcher.reportError(session.owner.pchannel, error);
        }
        session?.cancel(error);
        context.observability.reportError({ component: 'client.txn', pchannel, error, retrying: true });
        await delay(wait, call.signal).catch(() => {});
        wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
      }
    }
  } finally {
    call.done();
  }
}

/**
 * The client's side of one txn. Its stream may end under it: the owner drained (every append answered
 * before the stream closed), crashed, or the connection dropped. When every message of the txn sent so
 * far has its answer, nothing about the txn is in doubt and the new owner rebuilt it from the log (its
 * begin and bodies are durable), so the txn goes on on a new stream there — at the newer term, or the
 * same owner again. When an append of the txn was in flight as the stream ended, that body may or may
 * not be in the log, and sending it again could put it in twice: the txn fails instead
 * (TRANSACTION_EXPIRED, `details.reason: 'append-outcome-unknown'`) and is never committed.
 */
class ClientTxn implements Txn {
  readonly vchannel: string;
  readonly context: TxnContext;
  #state: Txn['state'] = 'open';
  #session: ProduceSession;
  #reopening: Promise<ProduceSession> | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  #failedAppends = 0;
  /** Why the txn can no longer commit. */
  #failure: WalError | undefined;
  readonly #ctx: TxnContextOptions;
  readonly #onClientClose = (): void => this.#session.cancel(new WalError('CLOSED', 'the client is closed'));

  constructor(vchannel: string, txn: TxnContext, session: ProduceSession, context: TxnContextOptions) {
    this.vchannel = vchannel;
    this.context = txn;
    this.#session = session;
    this.#ctx = context;
    // The client's close ends the stream; the txn then fails at its next call.
    context.stop.addEventListener('abort', this.#onClientClose, { once: true });
  }

  get state(): Txn['state'] {
    return this.#state;
  }

  append(message: MutableMessage, options: TxnCallOptions = {}): Promise<WireAppendResult> {
    if (this.#state !== 'open') return Promise.reject(this.#stateError('append to'));
    if (message.vchannel !== undefined && message.vchannel !== this.vchannel) {
      return Promise.reject(
        new WalError(
          'INVALID_ARGUMENT',
          `txn ${this.context.txnId} lives on vchannel ${this.vchannel}, not ${message.vchannel}`,
          { retriable: false, details: { written: false } },
        ),
      );
    }
    const body = message.clone();
    if (body.vchannel === undefined) body.withVChannel(this.vchannel);
    inTxn(body, this.context);
    const sent = this.#send(body, 'append to', options.signal);
    const tracked = sent.catch(() => {
      this.#failedAppends++;
    });
    this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(tracked));
    return sent;
  }

  async commit(options: TxnCallOptions = {}): Promise<WireAppendResult> {
    if (this.#state !== 'open') throw this.#stateError('commit');
    this.#state = 'committing';
    await Promise.all([...this.#inFlight]);
    if (this.#failure) throw this.#fail(this.#failure);
    if (this.#failedAppends > 0) {
      // Committing what is left would show readers a txn without a message its writer meant to be in it.
      await this.#finish('rollback', options.signal).catch(() => undefined);
      this.#state = 'rolled-back';
      this.#end(new WalError('CLOSED', 'the txn is finished'));
      throw new WalError(
        'INVALID_TRANSACTION_STATE',
        `${this.#failedAppends} append(s) of txn ${this.context.txnId} failed: it was rolled back, not committed`,
        { retriable: false, details: { txnId: this.context.txnId, written: false } },
      );
    }
    try {
      const result = await this.#finish('commit', options.signal);
      this.#state = 'committed';
      return result;
    } catch (error) {
      this.#state = 'failed';
      throw error;
    } finally {
      this.#end(new WalError('CLOSED', 'the txn is finished'));
    }
  }

  async rollback(options: TxnCallOptions = {}): Promise<void> {
    if (this.#state === 'rolled-back') return;
    if (this.#state === 'failed' && this.#failure?.details.written !== 'unknown') {
      // Nobody can commit it now: it expires on the node after its keepalive, unseen.
      this.#state = 'rolled-back';
      return;
    }
    if (this.#state !== 'open') throw this.#stateError('roll back');
    this.#state = 'rolling-back';
    await Promise.all([...this.#inFlight]);
    try {
      if (!this.#failure) await this.#finish('rollback', options.signal);
    } catch {
      // A rollback that did not get through leaves the txn to expire: no commit will ever be sent for it.
    } finally {
      this.#state = 'rolled-back';
      this.#end(new WalError('CLOSED', 'the txn is finished'));
    }
  }

  #finish(kind: 'commit' | 'rollback', signal: AbortSignal | undefined): Promise<WireAppendResult> {
    const message =
      kind === 'commit'
        ? commitTxnMessage(this.vchannel, this.context)
        : rollbackTxnMessage(this.vchannel, this.context);
    return this.#send(message, kind, signal);
  }

  /**
   * Sends one message of the txn. Refused for rate (it did not land): again on the same stream after a
   * backoff. The stream ended before it was sent: on a new stream, if nothing of the txn is in doubt.
   */
  async #send(
    message: MutableMessage,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<WireAppendResult> {
    const wire = toWireMessage(message);
    const bytes = sizeOf(message);
    const call: Deadline = deadline(
      `${what} txn ${this.context.txnId}`,
      this.#ctx.appendTimeoutMs,
      this.#ctx.stop,
      signal,
    );
    const { backoff } = this.#ctx;
    let wait = backoff.initialMs;
    try {
      for (;;) {
        if (this.#failure) throw this.#failure;
        const session = await this.#current(call);
        try {
          return await session.append(wire, bytes, call.signal);
        } catch (raw) {
          const error = toWalError(raw);
          if (call.signal.aborted && notWritten(error)) throw signalError(call.signal);
          if (hasCode(error, 'RATE_LIMIT_REJECTED') && notWritten(error)) {
            await delay(wait, call.signal).catch(() => {});
            wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
            continue;
          }
          if (session.ended && notWritten(error)) continue; // not sent: try on the next stream
          if (session.ended) {
            // In flight when the stream ended: it may be in the log, and the txn with it.
            throw this.#fail(
              new WalError(
                'TRANSACTION_EXPIRED',
                `txn ${this.context.txnId}: its stream ended with a message in flight (${error.message}); ` +
                  'sending it again could add it twice, so the txn can no longer commit: start a new one',
                {
                  retriable: false,
                  cause: error,
                  details: {
                    txnId: this.context.txnId,
                    reason: 'append-outcome-unknown',
                    written: message.messageType === SystemMessageType.CommitTxn ? 'unknown' : false,
                  },
                },
              ),
            );
          }
          if (hasCode(error, 'TRANSACTION_EXPIRED', 'INVALID_TRANSACTION_STATE', 'VCHANNEL_DROPPED')) {
            throw this.#fail(error);
          }
          throw error;
        }
      }
    } finally {
      call.done();
    }
  }

  /** The live stream, or a new one to the pchannel's owner now (one opening at a time). */
  #current(call: Deadline): Promise<ProduceSession> {
    const session = this.#session;
    if (!session.ended) return Promise.resolve(session);
    this.#reopening ??= this.#reopen(session, call).finally(() => {
      this.#reopening = undefined;
    });
    return this.#reopening;
  }

  async #reopen(old: ProduceSession, call: Deadline): Promise<ProduceSession> {
    const { watcher, backoff, observability } = this.#ctx;
    const pchannel = old.owner.pchannel.name;
    observability.reportError({ component: 'client.txn', pchannel, error: old.ended!, retrying: true });
    void watcher.reportError(old.owner.pchannel, old.ended);
    let wait = backoff.initialMs;
    // A drain, a fence, a shutdown: the owner is gone, wait for a newer one. Anything else may have passed.
    let above: bigint | undefined = worthAnotherOwner(old.ended!) ? old.owner.pchannel.term : undefined;
    for (;;) {
      if (call.signal.aborted) throw signalError(call.signal);
      if (this.#failure) throw this.#failure;
      try {
        const owner = await watcher.owner(
          pchannel,
          call.signal,
          above,
          above === undefined ? undefined : wait,
        );
        const session = await openSession(this.#ctx, owner, call.signal);
        this.#session = session;
        return session;
      } catch (raw) {
        const error = toWalError(raw);
        if (call.signal.aborted) throw signalError(call.signal);
        if (!worthAnotherOwner(error)) throw this.#fail(error);
        above = undefined;
        await delay(wait, call.signal).catch(() => {});
        wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
      }
    }
  }

  #fail(error: WalError): WalError {
    this.#failure ??= error;
    this.#state = 'failed';
    this.#end(error);
    return error;
  }

  /** The txn is over here: its stream goes, and the client's close no longer concerns it. */
  #end(reason: WalError): void {
    this.#session.cancel(reason);
    this.#ctx.stop.removeEventListener('abort', this.#onClientClose);
  }

  #stateError(what: string): WalError {
    return new WalError(
      'INVALID_TRANSACTION_STATE',
      `cannot ${what} txn ${this.context.txnId}: it is ${this.#state}`,
      {
        retriable: false,
        details: { txnId: this.context.txnId, state: this.#state, written: false },
      },
    );
  }
}
