import { randomBytes } from 'node:crypto';
import { appendOutcome, hasCode, type MutableMessage, WalError } from '@walstream/core';
import { abortable, type BackoffOptions, delay } from '@walstream/core/internal';
import { type Observability, toWalError } from '@walstream/core/spi';
import { type RpcChannel, toWireMessage, type WireAppendResult } from '@walstream/rpc';
import type { AssignmentWatcher } from '../assignment/watcher.js';
import { type ProducerSequence, ProduceSession } from './session.js';

export interface ProducerContext {
  readonly watcher: AssignmentWatcher;
  readonly connect: (address: string) => RpcChannel;
  readonly backoff: BackoffOptions;
  readonly observability: Observability;
  /** Aborted when the client closes. */
  readonly stop: AbortSignal;
  /**
   * Appends carry a producer id and sequence, so the node writes each once however often it is retried
   * (see docs/client.md, "Idempotent appends"). Default false: at least once.
   */
  readonly idempotent?: boolean;
}

/** 128 random bits: unique without coordination, within the node's 1-64 characters of A-Z a-z 0-9 _ -. */
function newProducerId(): string {
  return randomBytes(16).toString('base64url');
}

/** The node's refusal of a sequence that skipped past its window: nothing was written under that key. */
function skippedWindow(error: WalError): boolean {
  return (
    hasCode(error, 'INVALID_REQUEST_SEQ') &&
    error.details.written === false &&
    error.details.producerId !== undefined
  );
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
 * Codes that end an owner's part, not the append's chances: the pchannel was fenced by a newer term, its
 * WAL or node is closing, or it is not (or no longer) here. Some are not retriable for whoever holds that
 * WAL, but the client can send the append to the next owner.
 */
const OWNER_GONE = [
  'CHANNEL_FENCED',
  'ON_SHUTDOWN',
  'CLOSED',
  'CHANNEL_NOT_EXIST',
  'UNMATCHED_CHANNEL_TERM',
] as const;

export function worthAnotherOwner(error: WalError): boolean {
  return error.retriable || hasCode(error, ...OWNER_GONE);
}

/** Codes a node answers only for an append that did not land (unless `details.written` says otherwise). */
const NOT_LANDED = new Set<string>([
  'CHANNEL_FENCED',
  'CLOSED',
  'CHANNEL_NOT_EXIST',
  'UNMATCHED_CHANNEL_TERM',
  'INVALID_ARGUMENT',
  'INVALID_REQUEST_SEQ',
  'RATE_LIMIT_REJECTED',
  'VCHANNEL_NOT_FOUND',
  'VCHANNEL_DROPPED',
  'READ_ONLY',
  'CAPACITY_EXCEEDED',
  'ABORTED',
  'UNAUTHENTICATED',
]);

/** Whether a failed try may be in the log: `details.written` when the error says, else by its code. */
function mayHaveLanded(error: WalError): boolean {
  const written = error.details.written;
  if (written === false) return false;
  if (written === true || written === 'unknown') return true;
  return appendOutcome(error) !== 'not-written' && !NOT_LANDED.has(error.code);
}

/**
 * The resumable producer of one pchannel: one Produce stream at a time, opened at the owner's term. An
 * append that fails retriably — its stream broke, the owner was fenced or shut down, the node refused it
 * for rate — is sent again, on a new stream at the owner's newer term when the old one is gone. So an
 * append is delivered at least once; a retried append whose first try may have landed and that finally
 * fails says `details.written: 'unknown'`. Idempotent, every try of an append carries the same producer id
 * and sequence, and the owner (this one or the next, which reads them back from the log) writes it once.
 */
export class ResumableProducer {
  readonly pchannel: string;
  readonly #context: ProducerContext;
  #session: ProduceSession | undefined;
  #opening: Promise<ProduceSession> | undefined;
  /** The identity of this producer's idempotent appends on its pchannel, and the last sequence it gave. */
  #producerId = newProducerId();
  #sequence = 0n;

  constructor(pchannel: string, context: ProducerContext) {
    this.pchannel = pchannel;
    this.#context = context;
  }

  async append(message: MutableMessage, signal: AbortSignal): Promise<WireAppendResult> {
    const { backoff } = this.#context;
    let wire: ReturnType<typeof toWireMessage>;
    try {
      wire = toWireMessage(message);
    } catch (error) {
      throw this.#giveUp(error, undefined, false);
    }
    const bytes = sizeOf(message);
    // Idempotent: the append keeps the identity it was first sent with through every retry, on any owner.
    let key: ProducerSequence | undefined;
    const idempotence = this.#context.idempotent
      ? (): ProducerSequence => {
          key ??= { producerId: this.#producerId, sequence: ++this.#sequence };
          return key;
        }
      : undefined;
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
        return await session.append(wire, bytes, signal, idempotence);
      } catch (raw) {
        const error = toWalError(raw);
        last = error;
        if (key && skippedWindow(error)) {
          // This producer's sequences ran more than the node's window ahead of what reached it (appends
          // sent and abandoned): go on as a new producer; this append was not written under its old key.
          if (key.producerId === this.#producerId) {
            this.#producerId = newProducerId();
            this.#sequence = 0n;
          }
          key = undefined;
          continue;
        }
        if (mayHaveLanded(error)) maybeWritten = true;
        if (signal.aborted) throw this.#giveUp(signalError(signal), last, maybeWritten);
        if (!worthAnotherOwner(error)) throw this.#giveUp(error, undefined, maybeWritten);
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
    // The coordinator ignores a report at a term it already moved past, so reporting a failure it caused (a
    // drain, a fence by the next owner) costs nothing, and one it did not see (a WAL failed on its node, a
    // node unreachable) starts a move at once rather than at its next timed round.
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
      const opening = this.#open(failedTerm).finally(() => {
        this.#opening = undefined;
      });
      // Every append waiting for it handles its own outcome; when none is left, nobody else will.
      opening.catch(() => {});
      this.#opening = opening;
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
        if (!worthAnotherOwner(error)) throw error;
        observability.reportError({
          component: 'client.producer',
          pchannel: this.pchannel,
          error,
          retrying: true,
        });
        void watcher.reportError(owner.pchannel, error);
        above = owner.pchannel.term;
        await delay(wait, stop).catch(() => {});
        wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
      }
    }
  }
}
