import {
  type DeliverFilter,
  type DeliverPolicy,
  type ImmutableMessage,
  type MutableMessage,
  pchannel,
  WalError,
} from '@walstream/core';
import {
  AssignRequestSchema,
  type ClientDuplex,
  CollectStatusRequestSchema,
  type ConsumeRequest,
  ConsumeRequestSchema,
  type ConsumeResponse,
  create,
  fromWireAppendResult,
  fromWireError,
  fromWireImmutable,
  fromWireTxn,
  type ProduceRequest,
  ProduceRequestSchema,
  type ProduceResponse,
  type RateLimitState,
  RemoveRequestSchema,
  type RpcChannel,
  toWireDeliverPolicy,
  toWireFilters,
  toWireMessage,
  toWirePChannel,
  WalLifetimeState,
  type WalStatus,
  type WireAppendResult,
} from '@walstream/rpc';

import { waitFor } from '@walstream/testkit';

export { waitFor };

export async function statusOf(rpc: RpcChannel, name: string): Promise<WalStatus | undefined> {
  const { wals } = await rpc.nodeManager.collectStatus(create(CollectStatusRequestSchema, {}));
  return wals.find((wal) => wal.pchannel?.name === name);
}

/** Assign `name` at `term` and wait (bounded) until the node reports it READY. */
export async function assignReady(
  rpc: RpcChannel,
  name: string,
  term: bigint,
  timeoutMs = 30_000,
): Promise<void> {
  await rpc.nodeManager.assign(
    create(AssignRequestSchema, { pchannel: toWirePChannel(pchannel(name, term)) }),
  );
  await waitFor(
    async () => {
      const status = await statusOf(rpc, name);
      if (status?.state === WalLifetimeState.FAILED && status.error) throw fromWireError(status.error);
      return status?.pchannel?.term === term && status.state === WalLifetimeState.READY;
    },
    `${name} at term ${term} READY`,
    timeoutMs,
  );
}

export async function remove(rpc: RpcChannel, name: string, term: bigint): Promise<void> {
  await rpc.nodeManager.remove(
    create(RemoveRequestSchema, { pchannel: toWirePChannel(pchannel(name, term)) }),
  );
}

/** A producer over the wire: request ids, a pending map, results resolved in whatever order they come. */
export class WireProducer {
  readonly #call: ClientDuplex<ProduceRequest, ProduceResponse>;
  readonly #pending = new Map<
    bigint,
    { resolve(result: WireAppendResult): void; reject(error: unknown): void }
  >();
  #nextId = 1n;
  /** Request ids in the order their results arrived. */
  readonly completionOrder: bigint[] = [];
  readonly rateLimits: RateLimitState[] = [];
  maxInFlight = 0;
  closed = false;
  /** How the call ended: undefined while it runs or after an OK end, the error otherwise. */
  endError: WalError | undefined;
  readonly ended: Promise<void>;

  private constructor(
    call: ClientDuplex<ProduceRequest, ProduceResponse>,
    opened: () => void,
    failed: (e: unknown) => void,
  ) {
    this.#call = call;
    this.ended = (async () => {
      let first = true;
      try {
        for await (const response of call) {
          const r = response.response;
          if (r.case === 'opened') {
            this.maxInFlight = r.value.maxInFlight;
            first = false;
            opened();
          } else if (r.case === 'produce') {
            this.completionOrder.push(r.value.requestId);
            const waiter = this.#pending.get(r.value.requestId);
            this.#pending.delete(r.value.requestId);
            try {
              if (r.value.outcome.case === 'result')
                waiter?.resolve(fromWireAppendResult(r.value.outcome.value));
              else if (r.value.outcome.case === 'error') waiter?.reject(fromWireError(r.value.outcome.value));
            } catch (error) {
              // A result this process cannot read (an id of an adapter whose codec is not loaded here).
              waiter?.reject(error);
            }
          } else if (r.case === 'rateLimit') this.rateLimits.push(r.value.state);
          else if (r.case === 'closed') this.closed = true;
        }
      } catch (error) {
        this.endError = WalError.is(error) ? error : new WalError('UNKNOWN', String(error));
        if (first) failed(this.endError);
      }
      const gone = this.endError ?? new WalError('UNKNOWN', 'the produce stream ended before this result');
      for (const waiter of this.#pending.values()) waiter.reject(gone);
      this.#pending.clear();
      if (first) failed(gone);
    })();
  }

  /** Opens a producer stream on `name` at `term`; rejects with the node's coded error. */
  static async open(rpc: RpcChannel, name: string, term: bigint): Promise<WireProducer> {
    const call = rpc.nodeHandler.produce();
    let opened!: () => void;
    let failed!: (error: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    const producer = new WireProducer(call, opened, failed);
    await call.send(
      create(ProduceRequestSchema, {
        request: { case: 'open', value: { pchannel: toWirePChannel(pchannel(name, term)) } },
      }),
    );
    await ready;
    return producer;
  }

  /** Sends one append; the promise settles with its result. The send itself honours backpressure. */
  async send(message: MutableMessage): Promise<{ id: bigint; result: Promise<WireAppendResult> }> {
    const id = this.#nextId++;
    const result = new Promise<WireAppendResult>((resolve, reject) =>
      this.#pending.set(id, { resolve, reject }),
    );
    result.catch(() => {});
    await this.#call.send(
      create(ProduceRequestSchema, {
        request: { case: 'produce', value: { requestId: id, message: toWireMessage(message) } },
      }),
    );
    return { id, result };
  }

  async append(message: MutableMessage): Promise<WireAppendResult> {
    return (await this.send(message)).result;
  }

  /** close{} then half-close; resolves when the node ended the call. */
  async close(): Promise<void> {
    await this.#call.send(create(ProduceRequestSchema, { request: { case: 'close', value: {} } }));
    this.#call.end();
    await this.ended;
  }

  cancel(): void {
    this.#call.cancel();
  }
}

export type Delivered =
  | { readonly kind: 'message'; readonly message: ImmutableMessage }
  | { readonly kind: 'txn'; readonly message: ImmutableMessage & { bodies: readonly ImmutableMessage[] } };

/** A consumer over the wire that collects what it receives. */
export class WireConsumer {
  readonly #call: ClientDuplex<ConsumeRequest, ConsumeResponse>;
  readonly received: Delivered[] = [];
  /** User messages received (those with a `seq` property; txn bodies counted one by one). */
  userCount = 0;
  #wake: (() => void) | undefined;
  #wanted = Number.POSITIVE_INFINITY;
  #done = false;
  closed = false;
  endError: WalError | undefined;
  readonly ended: Promise<void>;

  private constructor(
    call: ClientDuplex<ConsumeRequest, ConsumeResponse>,
    opened: () => void,
    failed: (e: unknown) => void,
  ) {
    this.#call = call;
    this.ended = (async () => {
      let first = true;
      try {
        for await (const response of call) {
          const r = response.response;
          if (r.case === 'opened') {
            first = false;
            opened();
          } else if (r.case === 'message') {
            this.received.push({ kind: 'message', message: fromWireImmutable(r.value) });
            if (r.value.properties.seq !== undefined) this.#counted(1);
          } else if (r.case === 'txn') {
            this.received.push({ kind: 'txn', message: fromWireTxn(r.value) });
            this.#counted(r.value.bodies.length);
          } else if (r.case === 'closed') this.closed = true;
        }
      } catch (error) {
        this.endError = WalError.is(error) ? error : new WalError('UNKNOWN', String(error));
      }
      this.#done = true;
      this.#wake?.();
      if (first) failed(this.endError ?? new WalError('UNKNOWN', 'the consume stream ended before opened'));
    })();
  }

  static async open(
    rpc: RpcChannel,
    name: string,
    term: bigint,
    vchannel: string,
    policy: DeliverPolicy,
    filters: readonly DeliverFilter[] = [],
  ): Promise<WireConsumer> {
    const call = rpc.nodeHandler.consume();
    let opened!: () => void;
    let failed!: (error: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    const consumer = new WireConsumer(call, opened, failed);
    await call.send(
      create(ConsumeRequestSchema, {
        request: {
          case: 'open',
          value: {
            pchannel: toWirePChannel(pchannel(name, term)),
            vchannel,
            deliverPolicy: toWireDeliverPolicy(policy),
            filters: toWireFilters(filters),
          },
        },
      }),
    );
    await ready;
    return consumer;
  }

  #counted(n: number): void {
    this.userCount += n;
    if (this.userCount >= this.#wanted) this.#wake?.();
  }

  /** Resolves once `count` user messages arrived; rejects when the stream ended before. */
  async until(count: number): Promise<void> {
    while (this.userCount < count) {
      if (this.#done) throw this.endError ?? new Error('the consume stream ended');
      this.#wanted = count;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** The user messages received (txn bodies expanded), with their `seq` property. */
  seqs(): string[] {
    return this.received.flatMap((d) =>
      (d.kind === 'txn' ? d.message.bodies : [d.message]).flatMap((m) =>
        m.properties.seq === undefined ? [] : [m.properties.seq],
      ),
    );
  }

  async close(): Promise<void> {
    await this.#call.send(create(ConsumeRequestSchema, { request: { case: 'close', value: {} } }));
    this.#call.end();
    await this.ended;
  }

  cancel(): void {
    this.#call.cancel();
  }
}
