import { WalError } from '@walstream/core';
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

/** An idempotent append's identity: the producer's id and the append's number on this pchannel. */
export interface ProducerSequence {
  readonly producerId: string;
  readonly sequence: bigint;
}

/** Appends a new session may have in flight before any result came back. */
const INITIAL_WINDOW = 64;
/** The longest SLOWDOWN pacing holds one message back. */
const MAX_PACE_MS = 100;

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
 * while SLOWDOWN, and never has more in flight than the node's `max_in_flight` nor more than its window: 64 at
 * first, growing by one per success until a RATE_LIMIT_REJECTED, then halved at each refusal and grown by
 * one per window's worth of successes (TCP's congestion window). So a node whose budget is full sees
 * fewer and fewer refusals instead of a producer retrying into it. When the stream ends,
 * every append still in flight is rejected as "may have landed" (UNAVAILABLE, `written: 'unknown'`).
 */
export class ProduceSession {
  readonly owner: ChannelOwner;
  readonly #stream: ClientDuplex<ProduceRequest, ProduceResponse>;
  readonly #maxInFlight: number;
  /**
   * How many appends may be in flight now, as TCP's congestion window: from a start of 64, +1 per success
   * until the first refusal, then halved at each refusal and +1 per window's worth of successes.
   */
  #window: number;
  #slowStart = true;
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
    this.#window = Math.min(this.#maxInFlight, INITIAL_WINDOW);
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
   * `idempotence`, when given, is asked for the append's identity as it is sent.
   */
  async append(
    message: Message,
    bytes: number,
    signal: AbortSignal | undefined,
    idempotence?: () => ProducerSequence,
  ): Promise<WireAppendResult> {
    // Held back while the node says REJECT or the window is full (waiting is cheaper than being refused),
    // and paced to the pushed rate while SLOWDOWN. Every wait ends at the next change, so a newer push or a
    // freed slot is acted on at once.
    for (;;) {
      if (this.#ended) throw notSent(this.#ended);
      if (this.#rateState === RateLimitState.REJECT || this.#inFlight.size >= Math.floor(this.#window)) {
        await this.#waitChange(signal);
        continue;
      }
      if (this.#rateState === RateLimitState.SLOWDOWN && this.#bytesPerSecond > 0) {
        const now = Date.now();
        if (this.#nextSendAt > now) {
          await this.#waitChange(signal, this.#nextSendAt - now);
          continue;
        }
        // The node measures its rate over the last second, so a SLOWDOWN just after a quiet spell can name
        // a rate near zero: one message never waits more than MAX_PACE_MS.
        this.#nextSendAt = now + Math.min(MAX_PACE_MS, (bytes * 1000) / this.#bytesPerSecond);
      }
      break;
    }
    const requestId = this.#nextRequestId++;
    // Taken only now that the append leaves: one held back and abandoned never uses up a sequence.
    const key = idempotence?.();
    const result = new Promise<WireAppendResult>((resolve, reject) => {
      this.#inFlight.set(requestId, { resolve, reject });
    });
    try {
      await this.#stream.send(
        create(ProduceRequestSchema, {
          request: {
            case: 'produce',
            value: {
              requestId,
              message,
              ...(key ? { idempotence: { producerId: key.producerId, sequence: key.sequence } } : {}),
            },
          },
        }),
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
            this.#window = Math.min(
              this.#maxInFlight,
              this.#window + (this.#slowStart ? 1 : 1 / this.#window),
            );
            try {
              pending.resolve(fromWireAppendResult(outcome.value));
            } catch (error) {
              pending.reject(toWalError(error));
            }
          } else if (outcome.case === 'error') {
            const error = fromWireError(outcome.value);
            // The node's budget is full: halve what may be in flight (what is in flight now is what filled it).
            if (error.code === 'RATE_LIMIT_REJECTED') {
              this.#slowStart = false;
              this.#window = Math.max(1, this.#inFlight.size / 2);
            }
            pending.reject(error);
          } else
            pending.reject(
              new WalError('UNKNOWN', 'a produce result without an outcome', { retriable: false }),
            );
          this.#signalChange();
        } else if (response.case === 'rateLimit') {
          this.#rateState = response.value.state;
          this.#bytesPerSecond = Number(response.value.bytesPerSecond);
          this.#nextSendAt = 0;
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

  /** Resolves at the next change (a result, a push, the end), or after `timeoutMs`; rejects on abort. */
  async #waitChange(signal: AbortSignal | undefined, timeoutMs?: number): Promise<void> {
    const aborted = (): WalError =>
      notSent(new WalError('ABORTED', 'the append was aborted', { retriable: false, cause: signal?.reason }));
    if (signal?.aborted) throw aborted();
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        if (timer) clearTimeout(timer);
        reject(aborted());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      void this.#changed.then(done);
    });
  }
}
