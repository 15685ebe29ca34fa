import type { Wal } from '@walstream/core';
import type { Observability } from '@walstream/core/spi';
import type { IdempotentAppends } from '../dedup/index.js';
import type { NodeFlowControl } from './flow-control.js';

/** A bidirectional stream as a service sees it (what `@walstream/rpc`'s ServerDuplex provides). */
export interface DuplexStream<Req, Res> extends AsyncIterable<Req> {
  /** Resolves once the transport took the message and is below its high-water mark. */
  send(response: Res): Promise<void>;
}

/** The part of a call a service needs: aborted when the client cancels or disappears. */
export interface StreamCall {
  readonly signal: AbortSignal;
}

/** Where a stream finds its WAL: the node's WAL manager. */
export interface WalLookup {
  get(pchannel: string, term: bigint, signal?: AbortSignal): Promise<Wal>;
}

/** What the node's services share. */
export interface ServiceContext {
  readonly nodeId: bigint;
  readonly wals: WalLookup;
  readonly flow: NodeFlowControl;
  /** Deduplicates appends that carry a producer id and sequence. */
  readonly idempotence: IdempotentAppends;
  readonly observability: Observability;
  /** Aborted when the node starts to close: streams stop taking requests, drain, and end ON_SHUTDOWN. */
  readonly shutdown: AbortSignal;
  /** Read-ahead of each consumer's scanner (messages). */
  readonly consumerReadAhead: number;
}

/**
 * Serialises sends on one stream. Once a send failed (the client is gone) later ones are dropped: their
 * results have nobody to go to, and the appends behind them still complete.
 */
export class SerialSender<Res> {
  readonly #stream: DuplexStream<unknown, Res>;
  #tail: Promise<void> = Promise.resolve();
  #broken = false;

  constructor(stream: DuplexStream<unknown, Res>) {
    this.#stream = stream;
  }

  get broken(): boolean {
    return this.#broken;
  }

  send(response: Res | (() => Res)): Promise<void> {
    const next = this.#tail.then(async () => {
      if (this.#broken) return;
      try {
        await this.#stream.send(typeof response === 'function' ? (response as () => Res)() : response);
      } catch {
        this.#broken = true;
      }
    });
    this.#tail = next;
    return next;
  }

  /** Settles after every send queued so far. */
  flushed(): Promise<void> {
    return this.#tail;
  }
}

/** Settles with 'stop' the first time `signal` aborts (at once when it already has). */
export function whenAborted(signal: AbortSignal): { promise: Promise<'stop'>; dispose(): void } {
  if (signal.aborted) return { promise: Promise.resolve('stop'), dispose: () => {} };
  let onAbort: () => void = () => {};
  const promise = new Promise<'stop'>((resolve) => {
    onAbort = () => resolve('stop');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
