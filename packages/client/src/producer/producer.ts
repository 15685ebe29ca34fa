import { appendOutcome, hasCode, type MutableMessage, WalError } from '@walstream/core';
import { abortable, type BackoffOptions, delay } from '@walstream/core/internal';
import { type Observability, toWalError } from '@walstream/core/spi';
import { type RpcChannel, toWireMessage, type WireAppendResult } from '@walstream/rpc';
import type { AssignmentWatcher } from '../assignment/watcher.js';
import { ProduceSession } from './session.js';

export interface ProducerContext {
  readonly watcher: AssignmentWatcher;
  readonly connect: (address: string) => RpcChannel;
  readonly backoff: BackoffOptions;
  readonly observability: Observability;
  /** Aborted when the client closes. */
  readonly stop: AbortSignal;
}

function sizeOf(message: MutableMessage): number {
  let bytes = message.payload.byteLength;
  for (const [key, value] of Object.entries(message.properties)) bytes += key.length + value.length;
  return bytes;
}

/** Why `signal` aborted, as a coded error: its reason when that is one (the client's timeout is TIMEOUT). */
export function signalError(signal: AbortSignal): WalError {
  if (WalError.is(signal.reason)) return signal.reason;
  return new WalError('ABORTED', 'the operation was aborted', { retriable: false, cause: signal.reason });
}

/** Failures that say the session (its stream, its term, its node) is no longer any good. */
function endsSession(error: WalError): boolean {
  return !hasCode(error, 'RATE_LIMIT_REJECTED', 'INVALID_ARGUMENT', 'ABORTED');
}

/**
 * The resumable producer of one pchannel: one Produce stream at a time, opened at the owner's term. An
 * append that fails retriably — its stream broke, the owner was fenced or shut down, the node refused it
 * for rate — is sent again, on a new stream at the owner's newer term when the old one is gone. So an
 * append is delivered at least once; a retried append whose first try may have landed and that finally
 * fails says `details.written: 'unknown'`.
 */
export class ResumableProducer {
  readonly pchannel: string;
  readonly #context: ProducerContext;
  #session: ProduceSession | undefined;
  #opening: Promise<ProduceSession> | undefined;

  constructor(pchannel: string, context: ProducerContext) {
    this.pchannel = pchannel;
    this.#context = context;
  }

  async append(message: MutableMessage, signal: AbortSignal): Promise<WireAppendResult> {
    const { backoff } = this.#context;
    const wire = toWireMessage(message);
    const bytes = sizeOf(message);
    let maybeWritten = false;
    let failedTerm: bigint | undefined;
    let wait = backoff.initialMs;
    let last: WalError | undefined;
    for (;;) {
      if (signal.aborted) throw this.#giveUp(signalError(signal), last, maybeWritten);
      let session: ProduceSession;
      try {
        session = await this.#current(failedTerm, signal);
      } catch (error) {
        throw this.#giveUp(signal.aborted ? signalError(signal) : error, last, maybeWritten);
      }
      try {
        return await session.append(wire, bytes, signal);
      } catch (raw) {
        const error = toWalError(raw);
        last = error;
        if (appendOutcome(error) !== 'not-written') maybeWritten = true;
        if (signal.aborted) throw this.#giveUp(signalError(signal), last, maybeWritten);
        if (!error.retriable) throw this.#giveUp(error, undefined, maybeWritten);
        if (endsSession(error)) {
          failedTerm = session.owner.pchannel.term;
          this.#drop(session, error);
        }
        // Rate refusals and broken owners alike: wait before the next try, longer each time.
        try {
          await delay(wait, signal);
        } catch {
          throw this.#giveUp(signalError(signal), last, maybeWritten);
        }
        wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
      }
    }
  }

  close(): void {
    this.#session?.cancel(new WalError('CLOSED', 'the client is closed'));
  }

  #giveUp(reason: unknown, last: WalError | undefined, maybeWritten: boolean): WalError {
    const error = toWalError(reason === undefined ? last : reason);
    const details = { ...error.details, pchannel: this.pchannel, written: maybeWritten ? 'unknown' : false };
    return new WalError(error.code, error.message, {
      retriable: error.retriable,
      cause: last && last !== error ? last : error.cause,
      details,
    });
  }

  #drop(session: ProduceSession, error: WalError): void {
    if (this.#session === session) this.#session = undefined;
    session.cancel(error);
    this.#context.observability.reportError({
      component: 'client.producer',
      pchannel: this.pchannel,
      error,
      retrying: true,
    });
    // A transport failure is news to the coordinator; a fence or a shutdown is its own doing.
    if (hasCode(error, 'UNAVAILABLE', 'TIMEOUT'))
      void this.#context.watcher.reportError(session.owner.pchannel, error);
  }

  /** The live session, or a new one (one opening at a time, shared by every append waiting for it). */
  #current(failedTerm: bigint | undefined, signal: AbortSignal): Promise<ProduceSession> {
    const session = this.#session;
    if (session && !session.ended && (failedTerm === undefined || session.owner.pchannel.term > failedTerm)) {
      return Promise.resolve(session);
    }
    if (session?.ended) this.#session = undefined;
    if (!this.#opening) {
      this.#opening = this.#open(failedTerm).finally(() => {
        this.#opening = undefined;
      });
    }
    return abortable(
      this.#opening,
      signal,
      () => new WalError('ABORTED', 'the append was aborted', { retriable: false, cause: signal.reason }),
    );
  }

  async #open(failedTerm: bigint | undefined): Promise<ProduceSession> {
    const { watcher, connect, backoff, observability, stop } = this.#context;
    let wait = backoff.initialMs;
    let above = failedTerm;
    for (;;) {
      if (stop.aborted) throw new WalError('CLOSED', 'the client is closed');
      // Wait for the coordinator to name a newer owner, but not forever: the failure may have been passing.
      const owner = await watcher.owner(this.pchannel, stop, above, above === undefined ? undefined : wait);
      try {
        const session = await ProduceSession.open(connect(owner.address), owner, stop);
        this.#session = session;
        observability.logger.debug?.(
          { pchannel: this.pchannel, term: owner.pchannel.term, node: String(owner.nodeId) },
          'producer opened',
        );
        return session;
      } catch (raw) {
        const error = toWalError(raw);
        if (!error.retriable) throw error;
        observability.reportError({
          component: 'client.producer',
          pchannel: this.pchannel,
          error,
          retrying: true,
        });
        if (hasCode(error, 'UNAVAILABLE', 'TIMEOUT')) void watcher.reportError(owner.pchannel, error);
        above = owner.pchannel.term;
        await delay(wait, stop).catch(() => {});
        wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
      }
    }
  }
}
