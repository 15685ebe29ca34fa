import { type MemoryAdapter, memoryAdapter } from '@walstream/adapter-memory';
import type { DeliverPolicy } from '@walstream/core';
import { createWal, MutableMessage, pchannel, type Wal, WalError, type WalOpener } from '@walstream/core';
import { noObservability } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import {
  type ConsumeRequest,
  ConsumeRequestSchema,
  type ConsumeResponse,
  create,
  type ProduceRequest,
  ProduceRequestSchema,
  type ProduceResponse,
  toWireDeliverPolicy,
  toWireMessage,
  toWirePChannel,
} from '@walstream/rpc';
import { IdempotentAppends, resolveIdempotence } from '../../src/dedup/index.js';
import {
  type FlowControlOptions,
  NodeFlowControl,
  resolveFlowControl,
} from '../../src/services/flow-control.js';
import type { ServiceContext } from '../../src/services/stream.js';

/** One pchannel's WAL on the memory adapter with the full semantics chain, and a service context over it. */
export interface InProcessStack {
  readonly adapter: MemoryAdapter;
  readonly opener: WalOpener;
  readonly wal: Wal;
  readonly vchannel: string;
  readonly context: ServiceContext;
  readonly flow: NodeFlowControl;
  readonly shutdown: AbortController;
  close(): Promise<void>;
}

export async function inProcessStack(
  name: string,
  options: { flowControl?: FlowControlOptions; appendDelayMs?: number; consumerReadAhead?: number } = {},
): Promise<InProcessStack> {
  const adapter = memoryAdapter();
  const opener = await createWal()
    .adapter(adapter)
    .use(...walSemantics())
    .build();
  const wal = await opener.open({ channel: pchannel(name, 1n) });
  const vchannel = `${name}_v0`;
  await wal.append(createVChannel(vchannel));
  if (options.appendDelayMs) adapter.store.faults(name).set({ appendDelayMs: options.appendDelayMs });
  const flow = new NodeFlowControl(resolveFlowControl('test', options.flowControl));
  const shutdown = new AbortController();
  const context: ServiceContext = {
    nodeId: 7n,
    wals: {
      async get(pchannelName, term) {
        if (pchannelName !== name)
          throw new WalError('CHANNEL_NOT_EXIST', `${pchannelName} is not on this node`);
        if (term !== wal.channel.term)
          throw new WalError('UNMATCHED_CHANNEL_TERM', `term ${term} is not ${wal.channel.term}`);
        return wal;
      },
    },
    flow,
    idempotence: new IdempotentAppends(resolveIdempotence('test', undefined), noObservability),
    observability: noObservability,
    shutdown: shutdown.signal,
    consumerReadAhead: options.consumerReadAhead ?? 16,
  };
  return { adapter, opener, wal, vchannel, context, flow, shutdown, close: () => opener.close() };
}

export function openProducer(name: string, term = 1n): ProduceRequest {
  return create(ProduceRequestSchema, {
    request: { case: 'open', value: { pchannel: toWirePChannel(pchannel(name, term)) } },
  });
}

export function produce(requestId: bigint, message: MutableMessage): ProduceRequest {
  return create(ProduceRequestSchema, {
    request: { case: 'produce', value: { requestId, message: toWireMessage(message) } },
  });
}

export function closeProducer(): ProduceRequest {
  return create(ProduceRequestSchema, { request: { case: 'close', value: {} } });
}

export function openConsumer(
  name: string,
  vchannel: string,
  policy: DeliverPolicy,
  term = 1n,
): ConsumeRequest {
  return create(ConsumeRequestSchema, {
    request: {
      case: 'open',
      value: {
        pchannel: toWirePChannel(pchannel(name, term)),
        vchannel,
        deliverPolicy: toWireDeliverPolicy(policy),
      },
    },
  });
}

export function closeConsumer(): ConsumeRequest {
  return create(ConsumeRequestSchema, { request: { case: 'close', value: {} } });
}

/** A user message of `bytes` payload on `vchannel`, carrying its sequence number. */
export function userMessage(vchannel: string, seq: number, bytes = 16): MutableMessage {
  const payload = new Uint8Array(bytes);
  payload.fill(seq % 256);
  return new MutableMessage(payload, { seq: String(seq), _t: String(TEST_MESSAGE_TYPE) }).withVChannel(
    vchannel,
  );
}

/** The user message type of the tests' messages (appends need no registration; type filters would). */
export const TEST_MESSAGE_TYPE = 3001;

export function results(responses: readonly ProduceResponse[]) {
  return responses.flatMap((r) => (r.response.case === 'produce' ? [r.response.value] : []));
}

export function consumed(responses: readonly ConsumeResponse[]) {
  return responses.flatMap((r) =>
    r.response.case === 'message' || r.response.case === 'txn' ? [r.response] : [],
  );
}
