import {
  type DeliverPolicy,
  type ImmutableMessage,
  type ImmutableTxnMessage,
  type Scanner,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import { toWalError } from '@walstream/core/spi';
import {
  type ConsumeRequest,
  type ConsumeResponse,
  ConsumeResponseSchema,
  create,
  fromWireDeliverPolicy,
  fromWireFilters,
  fromWirePChannel,
  type OpenConsumer,
  toWireImmutable,
  toWireTxn,
} from '@walstream/rpc';
import { type DuplexStream, type ServiceContext, type StreamCall, whenAborted } from './stream.js';

let consumerCounter = 0;

/**
 * One Consume stream: `open` names the vchannel, where to start and the filters; messages follow, a
 * committed txn as one TxnMessage. Each send waits for the transport to drain, so a slow consumer stops
 * this loop, the loop stops pulling the scanner, and the scanner's bounded read-ahead stops the store:
 * nothing queues without bound on the node.
 */
export async function serveConsume(
  stream: DuplexStream<ConsumeRequest, ConsumeResponse>,
  call: StreamCall,
  context: ServiceContext,
): Promise<void> {
  const requests = stream[Symbol.asyncIterator]();
  const first = await requests.next();
  if (first.done) return;
  if (context.shutdown.aborted) throw new WalError('ON_SHUTDOWN', 'the node is shutting down');
  const request = first.value.request;
  if (request.case !== 'open') {
    throw new WalError('INVALID_REQUEST_SEQ', 'a consume stream must start with open', {
      retriable: false,
      details: { got: request.case ?? 'nothing' },
    });
  }
  const scanner = await openScanner(request.value, call, context);
  try {
    await pump(stream, requests, call, context, scanner);
  } finally {
    await scanner.close().catch(() => {});
  }
}

async function openScanner(open: OpenConsumer, call: StreamCall, context: ServiceContext): Promise<Scanner> {
  const channel = fromWirePChannel(open.pchannel);
  const deliverPolicy: DeliverPolicy = fromWireDeliverPolicy(open.deliverPolicy);
  const filters = fromWireFilters(open.filters);
  const wal = await context.wals.get(channel.name, channel.term, call.signal);
  return wal.read({
    name: `node-${context.nodeId}-consumer-${++consumerCounter}`,
    ...(open.vchannel === '' ? {} : { vchannel: open.vchannel }),
    deliverPolicy,
    filters,
    readAheadBufferSize: context.consumerReadAhead,
    signal: call.signal,
  });
}

async function pump(
  stream: DuplexStream<ConsumeRequest, ConsumeResponse>,
  requests: AsyncIterator<ConsumeRequest>,
  call: StreamCall,
  context: ServiceContext,
  scanner: Scanner,
): Promise<void> {
  await stream.send(
    create(ConsumeResponseSchema, { response: { case: 'opened', value: { nodeId: context.nodeId } } }),
  );
  // Set by whichever ends the stream first (the scanner ending by itself leaves 'scanner').
  const end: { why: 'close' | 'gone' | 'shutdown' | 'protocol' | 'scanner' } = { why: 'scanner' };
  let protocolError: WalError | undefined;
  const stop = (why: typeof end.why): void => {
    if (end.why === 'scanner') end.why = why;
    void scanner.close().catch(() => {});
  };
  // The client may only close; anything else on the request side ends the stream.
  void requests.next().then(
    (next) => {
      if (next.done || next.value.request.case === 'close') stop('close');
      else {
        protocolError = new WalError(
          'INVALID_REQUEST_SEQ',
          next.value.request.case === 'open'
            ? 'open was sent twice on one consume stream'
            : 'a consume request carries nothing',
          { retriable: false },
        );
        stop('protocol');
      }
    },
    (error: unknown) => {
      // A request that did not decode, or the client leaving (then the call's signal is aborted).
      protocolError = toWalError(error, 'INVALID_ARGUMENT');
      stop('protocol');
    },
  );
  const shutdown = whenAborted(context.shutdown);
  void shutdown.promise.then(() => stop('shutdown'));
  let failure: unknown;
  try {
    for await (const message of scanner) {
      await stream.send(toResponse(message));
      if (call.signal.aborted) {
        stop('gone');
        break;
      }
    }
  } catch (error) {
    failure = error;
  } finally {
    shutdown.dispose();
  }
  if (call.signal.aborted) return;
  switch (end.why) {
    case 'gone':
      return;
    case 'protocol':
      throw protocolError;
    case 'close':
      await stream.send(create(ConsumeResponseSchema, { response: { case: 'closed', value: {} } }));
      return;
    case 'shutdown':
      throw new WalError('ON_SHUTDOWN', 'the node is shutting down');
    case 'scanner': {
      const error = failure ?? (await scanner.done);
      if (error !== undefined) throw toWalError(error, 'INNER');
      throw new WalError('ON_SHUTDOWN', `${scanner.channel.name} closed on this node`, {
        details: { pchannel: scanner.channel.name, term: scanner.channel.term },
      });
    }
  }
}

function toResponse(message: ImmutableMessage): ConsumeResponse {
  if (message.messageType === SystemMessageType.Txn) {
    return create(ConsumeResponseSchema, {
      response: { case: 'txn', value: toWireTxn(message as ImmutableTxnMessage) },
    });
  }
  return create(ConsumeResponseSchema, { response: { case: 'message', value: toWireImmutable(message) } });
}
