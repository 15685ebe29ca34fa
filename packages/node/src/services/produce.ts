import { type MutableMessage, type Wal, WalError } from '@walstream/core';
import { toWalError } from '@walstream/core/spi';
import {
  create,
  fromWireMessage,
  fromWirePChannel,
  type ProduceRequest,
  type ProduceResponse,
  ProduceResponseSchema,
  type ProducerSequence,
  RateLimitState,
  toWireAppendResult,
  toWireError,
  type Message as WireMessage,
} from '@walstream/rpc';
import type { RateLimitLevel, RateLimitNotice } from './flow-control.js';
import { type DuplexStream, SerialSender, type ServiceContext, type StreamCall } from './stream.js';
import { checkProduced } from './validate.js';

const WIRE_LEVEL: Record<RateLimitLevel, RateLimitState> = {
  normal: RateLimitState.NORMAL_UNSPECIFIED,
  slowdown: RateLimitState.SLOWDOWN,
  reject: RateLimitState.REJECT,
};

/**
 * One Produce stream: `open` names the pchannel and term, then appends run concurrently and their results
 * go back in completion order. Every append holds a slot of the stream's cap and bytes of the node's
 * budget until its result was sent (or dropped because the client left), so neither the appends nor the
 * results waiting for a slow reader can grow past the caps.
 */
export async function serveProduce(
  stream: DuplexStream<ProduceRequest, ProduceResponse>,
  call: StreamCall,
  context: ServiceContext,
): Promise<void> {
  const requests = stream[Symbol.asyncIterator]();
  const first = await requests.next();
  if (first.done) return;
  const wal = await openProducer(first.value, call, context);
  await new ProduceSession(stream, requests, call, context, wal).run();
}

async function openProducer(
  request: ProduceRequest,
  call: StreamCall,
  context: ServiceContext,
): Promise<Wal> {
  if (context.shutdown.aborted) throw onShutdown();
  if (request.request.case !== 'open') {
    throw new WalError('INVALID_REQUEST_SEQ', 'a produce stream must start with open', {
      retriable: false,
      details: { got: request.request.case ?? 'nothing' },
    });
  }
  const channel = fromWirePChannel(request.request.value.pchannel);
  if (channel.accessMode === 'ro') {
    throw new WalError('INVALID_ARGUMENT', `a producer cannot open ${channel.name} read-only`, {
      retriable: false,
      details: { pchannel: channel.name },
    });
  }
  return context.wals.get(channel.name, channel.term, call.signal);
}

function onShutdown(): WalError {
  return new WalError('ON_SHUTDOWN', 'the node is shutting down');
}

class ProduceSession {
  readonly #requests: AsyncIterator<ProduceRequest>;
  readonly #call: StreamCall;
  readonly #context: ServiceContext;
  readonly #wal: Wal;
  readonly #sender: SerialSender<ProduceResponse>;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #pendingNotice: RateLimitNotice | undefined;

  constructor(
    stream: DuplexStream<ProduceRequest, ProduceResponse>,
    requests: AsyncIterator<ProduceRequest>,
    call: StreamCall,
    context: ServiceContext,
    wal: Wal,
  ) {
    this.#requests = requests;
    this.#call = call;
    this.#context = context;
    this.#wal = wal;
    this.#sender = new SerialSender(stream);
    this.#maxInFlight = context.flow.options.maxInFlightPerStream;
  }

  async run(): Promise<void> {
    const { flow, observability } = this.#context;
    const log = observability.logger;
    await this.#sender.send(
      create(ProduceResponseSchema, {
        response: { case: 'opened', value: { nodeId: this.#context.nodeId, maxInFlight: this.#maxInFlight } },
      }),
    );
    const notice = flow.notice();
    if (notice.level !== 'normal') this.#pushNotice(notice);
    const unsubscribe = flow.onChange((next) => this.#pushNotice(next));
    // The stream stops taking requests when its WAL stops being writable or the node closes. Each read
    // races a fresh stop promise: racing one long-lived promise on every read would leave a reaction —
    // and the request it resolved with — on it per read, for the life of the stream.
    let stopError: WalError | undefined;
    let wakeStop: (() => void) | undefined;
    const stop = (error: WalError): void => {
      stopError ??= error;
      wakeStop?.();
    };
    const nextStop = (): Promise<'stop'> =>
      stopError
        ? Promise.resolve('stop')
        : new Promise<'stop'>((resolve) => {
            wakeStop = () => resolve('stop');
          });
    const subscription = this.#wal.state$.subscribe((state) => {
      if (state === 'fenced') {
        stop(
          new WalError('CHANNEL_FENCED', `${this.#wal.channel.name} was fenced by a higher term`, {
            details: { pchannel: this.#wal.channel.name, term: this.#wal.channel.term },
          }),
        );
      } else if (state !== 'available') {
        stop(
          new WalError(
            'ON_SHUTDOWN',
            `${this.#wal.channel.name} at term ${this.#wal.channel.term} is closing on this node`,
            {
              details: { pchannel: this.#wal.channel.name, term: this.#wal.channel.term },
            },
          ),
        );
      }
    });
    const onShutdownSignal = (): void => stop(onShutdown());
    const shutdownSignal = this.#context.shutdown;
    if (shutdownSignal.aborted) onShutdownSignal();
    else shutdownSignal.addEventListener('abort', onShutdownSignal, { once: true });
    let ending: 'close' | 'halfClose' | 'gone' | 'stop' | 'protocol' = 'halfClose';
    let protocolError: WalError | undefined;
    try {
      for (;;) {
        let next: IteratorResult<ProduceRequest> | 'stop';
        try {
          next = await Promise.race([this.#requests.next(), nextStop()]);
        } catch (error) {
          // A request that did not decode fails the read; the client leaving does too (then the call's
          // signal is aborted, checked below).
          ending = 'protocol';
          protocolError = toWalError(error, 'INVALID_ARGUMENT');
          break;
        }
        wakeStop = undefined;
        if (next === 'stop') {
          ending = 'stop';
          break;
        }
        if (next.done) break;
        const request = next.value.request;
        if (request.case === 'produce') {
          await this.#produce(request.value.requestId, request.value.message, request.value.idempotence);
        } else if (request.case === 'close') {
          ending = 'close';
          break;
        } else {
          ending = 'protocol';
          protocolError = new WalError(
            'INVALID_REQUEST_SEQ',
            request.case === 'open'
              ? 'open was sent twice on one produce stream'
              : 'a produce request carries nothing',
            { retriable: false },
          );
          break;
        }
      }
    } finally {
      subscription.unsubscribe();
      shutdownSignal.removeEventListener('abort', onShutdownSignal);
      unsubscribe();
    }
    if (ending === 'stop' || ending === 'protocol') {
      // Not awaited: a transport may keep a read pending until the call ends.
      void this.#requests.return?.().catch(() => {});
    }
    if (this.#call.signal.aborted) ending = 'gone';
    await this.#drain();
    log.debug?.({ pchannel: this.#wal.channel.name, ending }, 'produce stream ends');
    if (ending === 'gone') return;
    if (ending === 'protocol') throw protocolError;
    await this.#sender.send(create(ProduceResponseSchema, { response: { case: 'closed', value: {} } }));
    if (ending === 'stop') throw stopError;
  }

  async #produce(
    requestId: bigint,
    wire: WireMessage | undefined,
    idempotence: ProducerSequence | undefined,
  ): Promise<void> {
    const flow = this.#context.flow;
    if (this.#inFlight >= this.#maxInFlight) {
      flow.countRejected();
      // Awaited: when the client reads no results, the stream stops reading requests too.
      await this.#sendError(
        requestId,
        new WalError(
          'RATE_LIMIT_REJECTED',
          `the stream has its maximum of ${this.#maxInFlight} appends in flight`,
          {
            details: { maxInFlight: this.#maxInFlight },
          },
        ),
      );
      return;
    }
    let message: MutableMessage;
    try {
      message = fromWireMessage(wire);
      checkProduced(message);
    } catch (error) {
      await this.#sendError(requestId, toWalError(error, 'INVALID_ARGUMENT'));
      return;
    }
    const permit = flow.acquire(message.estimateSize());
    if (permit instanceof WalError) {
      await this.#sendError(requestId, permit);
      return;
    }
    this.#inFlight++;
    // An idempotent append goes through the WAL's deduplication window, which answers a repeat with the
    // first append's result instead of writing it again.
    const appended = idempotence
      ? this.#context.idempotence.append(this.#wal, message, {
          producerId: idempotence.producerId,
          sequence: idempotence.sequence,
        })
      : this.#wal.append(message);
    void appended
      .then(
        (result) =>
          create(ProduceResponseSchema, {
            response: {
              case: 'produce',
              value: { requestId, outcome: { case: 'result', value: toWireAppendResult(result) } },
            },
          }),
        (error: unknown) => errorResult(requestId, error),
      )
      .then((response) => this.#sender.send(response))
      .finally(() => {
        permit.release();
        this.#inFlight--;
        if (this.#inFlight === 0) this.#drained?.();
      });
  }

  #sendError(requestId: bigint, error: unknown): Promise<void> {
    return this.#sender.send(errorResult(requestId, error));
  }

  /** Coalesced: a notice waiting to be sent is replaced by a newer one, so notices never pile up. */
  #pushNotice(notice: RateLimitNotice): void {
    const queued = this.#pendingNotice !== undefined;
    this.#pendingNotice = notice;
    if (queued) return;
    void this.#sender.send(() => {
      const latest = this.#pendingNotice ?? notice;
      this.#pendingNotice = undefined;
      return create(ProduceResponseSchema, {
        response: {
          case: 'rateLimit',
          value: { state: WIRE_LEVEL[latest.level], bytesPerSecond: latest.bytesPerSecond },
        },
      });
    });
  }

  async #drain(): Promise<void> {
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    await this.#sender.flushed();
  }
}

function errorResult(requestId: bigint, error: unknown): ProduceResponse {
  return create(ProduceResponseSchema, {
    response: {
      case: 'produce',
      value: { requestId, outcome: { case: 'error', value: toWireError(error) } },
    },
  });
}
