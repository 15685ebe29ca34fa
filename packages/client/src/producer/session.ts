import { WalError } from '@walstream/core';
import { delay } from '@walstream/core/internal';
import { toWalError } from '@walstream/core/spi';
import {
  type ClientDuplex,
  create,
  fromWireAppendResult,
  fromWireError,
  type Message,
  type ProduceRequest,
  ProduceRequestSchema,
  type ProduceResponse,
  RateLimitState,
  type RpcChannel,
  toWirePChannel,
  type WireAppendResult,
} from '@walstream/rpc';
import type { ChannelOwner } from '../assignment/watcher.js';

interface Pending {
  resolve(result: WireAppendResult): void;
  reject(error: WalError): void;
}

/** An append failure that happened before its request left this process: it cannot have landed. */
export function notSent(error: WalError): WalError {
  return new WalError(error.code, error.message, {
    retriable: error.retriable,
    cause: error.cause,
    details: { ...error.details, written: false },
  });
}

/**
 * One Produce stream, open at one owner's term. Results come back in completion order and are matched by
 * request id. The session holds appends back while the node pushes REJECT, paces them to the pushed rate
 * while SLOWDOWN, and never has more in flight than the node's `max_in_flight`. When the stream ends,
 * every append still in flight is rejected as "may have landed" (UNAVAILABLE, `written: 'unknown'`).
 */
export class ProduceSession {
  readonly owner: ChannelOwner;
  readonly #stream: ClientDuplex<ProduceRequest, ProduceResponse>;
  readonly #maxInFlight: number;
  readonly #inFlight = new Map<bigint, Pending>();
  #nextRequestId = 1n;
  #rateState: RateLimitState = RateLimitState.NORMAL_UNSPECIFIED;
  #bytesPerSecond = 0;
  #nextSendAt = 0;
  #ended: WalError | undefined;
  #wake: (() => void) | undefined;
  #changed: Promise<void>;

  private constructor(
    owner: ChannelOwner,
    stream: ClientDuplex<ProduceRequest, ProduceResponse>,
    maxInFlight: number,
  ) {
    this.owner = owner;
    this.#stream = stream;
    this.#maxInFlight = Math.max(1, maxInFlight);
    this.#changed = this.#newChange();
  }

  /** Opens a Produce stream at the owner's term and waits for the node's `opened`. */
  static async open(rpc: RpcChannel, owner: ChannelOwner, signal: AbortSignal): Promise<ProduceSession> {
    const stream = rpc.nodeHandler.produce({ signal });
    const responses = stream[Symbol.asyncIterator]();
    try {
      await stream.send(
        create(ProduceRequestSchema, {
          request: { case: 'open', value: { pchannel: toWirePChannel(owner.pchannel) } },
        }),
      );
      const first = await responses.next();
      if (first.done || first.value.response.case !== 'opened') {
        throw new WalError('UNAVAILABLE', `node ${owner.nodeId} ended the produce stream before opening it`);
      }
      const session = new ProduceSession(owner, stream, first.value.response.value.maxInFlight);
      void session.#read(responses);
      return session;
    } catch (error) {
      stream.cancel();
      throw toWalError(error);
    }
  }

  get ended(): WalError | undefined {
    return this.#ended;
  }

  get rateLimit(): { readonly state: 'normal' | 'slowdown' | 'reject'; readonly bytesPerSecond: number } {
    const state =
      this.#rateState === RateLimitState.REJECT
        ? 'reject'
        : this.#rateState === RateLimitState.SLOWDOWN
          ? 'slowdown'
          : 'normal';
    return { state, bytesPerSecond: this.#bytesPerSecond };
  }

  /**
   * Sends one append and resolves with its result. A rejection whose `details.written` is `false` never
   * left this process (the session had ended, or `signal` aborted while it waited for a slot or the rate).
   */
  async append(message: Message, bytes: number, signal: AbortSignal | undefined): Promise<WireAppendResult> {
    // Held back while the node says REJECT or every slot is taken: waiting is cheaper than being refused.
    while (
      !this.#ended &&
      (this.#rateState === RateLimitState.REJECT || this.#inFlight.size >= this.#maxInFlight)
    ) {
      await this.#waitChange(signal);
    }
    if (this.#ended) throw notSent(this.#ended);
    if (this.#rateState === RateLimitState.SLOWDOWN && this.#bytesPerSecond > 0) {
      const now = Date.now();
      const start = Math.max(now, this.#nextSendAt);
      this.#nextSendAt = start + (bytes * 1000) / this.#bytesPerSecond;
      if (start > now) {
        try {
          await delay(start - now, signal);
        } catch (error) {
          throw notSent(toWalError(error));
        }
      }
      if (this.#ended) throw notSent(this.#ended);
    }
    const requestId = this.#nextRequestId++;
    const result = new Promise<WireAppendResult>((resolve, reject) => {
      this.#inFlight.set(requestId, { resolve, reject });
    });
    try {
      await this.#stream.send(
        create(ProduceRequestSchema, { request: { case: 'produce', value: { requestId, message } } }),
      );
    } catch (error) {
      // grpc-js may have written part of it: the stream's end decides, as for any append in flight.
      this.#end(toWalError(error));
    }
    return result;
  }

  /** Cancels the stream; appends in flight are rejected as "may have landed". */
  cancel(reason: WalError): void {
    this.#end(reason);
    this.#stream.cancel();
  }

  async #read(responses: AsyncIterator<ProduceResponse>): Promise<void> {
    let endError: WalError = new WalError(
      'UNAVAILABLE',
      `node ${this.owner.nodeId} ended the produce stream`,
    );
    try {
      for (;;) {
        const next = await responses.next();
        if (next.done) break;
        const response = next.value.response;
        if (response.case === 'produce') {
          const pending = this.#inFlight.get(response.value.requestId);
          if (!pending) continue;
          this.#inFlight.delete(response.value.requestId);
          const outcome = response.value.outcome;
          if (outcome.case === 'result') {
            try {
              pending.resolve(fromWireAppendResult(outcome.value));
            } catch (error) {
              pending.reject(toWalError(error));
            }
          } else if (outcome.case === 'error') pending.reject(fromWireError(outcome.value));
          else
            pending.reject(
              new WalError('UNKNOWN', 'a produce result without an outcome', { retriable: false }),
            );
          this.#signalChange();
        } else if (response.case === 'rateLimit') {
          this.#rateState = response.value.state;
          this.#bytesPerSecond = Number(response.value.bytesPerSecond);
          this.#signalChange();
        } else if (response.case === 'closed') {
          endError = new WalError('ON_SHUTDOWN', `node ${this.owner.nodeId} closed the produce stream`);
        }
      }
    } catch (error) {
      endError = toWalError(error);
    }
    this.#end(endError);
  }

  #end(error: WalError): void {
    if (this.#ended) return;
    this.#ended = error;
    for (const [, pending] of this.#inFlight) {
      pending.reject(
        new WalError(
          error.retriable ? error.code : 'UNAVAILABLE',
          `the produce stream ended with the append in flight: ${error.message}`,
          {
            retriable: true,
            cause: error,
            details: {
              pchannel: this.owner.pchannel.name,
              term: this.owner.pchannel.term,
              written: 'unknown',
            },
          },
        ),
      );
    }
    this.#inFlight.clear();
    this.#stream.cancel();
    this.#signalChange();
  }

  #newChange(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #signalChange(): void {
    const wake = this.#wake;
    this.#changed = this.#newChange();
    wake?.();
  }

  async #waitChange(signal: AbortSignal | undefined): Promise<void> {
    if (!signal) return this.#changed;
    if (signal.aborted)
      throw notSent(
        new WalError('ABORTED', 'the append was aborted', { retriable: false, cause: signal.reason }),
      );
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void =>
        reject(
          notSent(
            new WalError('ABORTED', 'the append was aborted', { retriable: false, cause: signal.reason }),
          ),
        );
      signal.addEventListener('abort', onAbort, { once: true });
      void this.#changed.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}
