import { type AppendResult, type MutableMessage, type PChannelInfo, WalError } from '@walstream/core';
import {
  type ClientDuplex,
  create,
  fromWireAppendResult,
  fromWireError,
  type NodeHandlerClient,
  type ProduceRequest,
  ProduceRequestSchema,
  type ProduceResponse,
  toWireMessage,
  toWirePChannel,
} from '@walstream/rpc';

interface Waiter {
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/**
 * One producer stream on a node, for one pchannel at one term: request ids, results matched back in
 * whatever order they come. A stream that ended fails every append in flight with how it ended, and
 * `ended` tells the owner to open a new one.
 */
export class ProduceStream {
  readonly pchannel: PChannelInfo;
  readonly #call: ClientDuplex<ProduceRequest, ProduceResponse>;
  readonly #pending = new Map<bigint, Waiter>();
  readonly #opened: Promise<void>;
  #nextId = 1n;
  #ended = false;

  constructor(handler: NodeHandlerClient, pchannel: PChannelInfo) {
    this.pchannel = pchannel;
    this.#call = handler.produce();
    let opened!: () => void;
    let failed!: (error: unknown) => void;
    this.#opened = new Promise<void>((resolve, reject) => {
      opened = resolve;
      failed = (error) => {
        // A stream that never opened takes no appends: its owner opens a new one.
        this.#ended = true;
        reject(error);
      };
    });
    this.#opened.catch(() => {});
    void this.#read(opened, failed);
    void this.#call
      .send(
        create(ProduceRequestSchema, {
          request: { case: 'open', value: { pchannel: toWirePChannel(pchannel) } },
        }),
      )
      .catch((error: unknown) => failed(error));
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Appends one message; resolves with the node's result, rejects with its coded error. */
  async append(message: MutableMessage, signal?: AbortSignal): Promise<AppendResult> {
    await this.#opened;
    if (this.#ended) throw new WalError('UNAVAILABLE', 'the produce stream ended', { retriable: true });
    const id = this.#nextId++;
    const result = new Promise<AppendResult>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    result.catch(() => {});
    await this.#call.send(
      create(ProduceRequestSchema, {
        request: { case: 'produce', value: { requestId: id, message: toWireMessage(message) } },
      }),
    );
    if (!signal) return result;
    // The caller stops waiting; the append itself may still land (its copy may be appended twice later).
    return Promise.race([
      result,
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
    ]);
  }

  cancel(): void {
    this.#ended = true;
    this.#call.cancel();
  }

  async #read(opened: () => void, failed: (error: unknown) => void): Promise<void> {
    let gone: WalError | undefined;
    try {
      for await (const response of this.#call) {
        const r = response.response;
        if (r.case === 'opened') opened();
        else if (r.case === 'produce') {
          const waiter = this.#pending.get(r.value.requestId);
          this.#pending.delete(r.value.requestId);
          try {
            if (r.value.outcome.case === 'result')
              waiter?.resolve(fromWireAppendResult(r.value.outcome.value));
            else if (r.value.outcome.case === 'error') waiter?.reject(fromWireError(r.value.outcome.value));
            else
              waiter?.reject(
                new WalError('UNKNOWN', 'a produce result without an outcome', { retriable: true }),
              );
          } catch (error) {
            waiter?.reject(error);
          }
        }
      }
    } catch (error) {
      gone = WalError.is(error)
        ? error
        : new WalError('UNAVAILABLE', `produce stream: ${String(error)}`, { cause: error, retriable: true });
    }
    this.#ended = true;
    gone ??= new WalError('UNAVAILABLE', `the node ended the produce stream on ${this.pchannel.name}`, {
      retriable: true,
    });
    failed(gone);
    for (const waiter of this.#pending.values()) waiter.reject(gone);
    this.#pending.clear();
  }
}
