import type { ConsumeRequest, ConsumeResponse, ProduceRequest, ProduceResponse } from '@walstream/rpc';
import { serveConsume } from './consume.js';
import { serveProduce } from './produce.js';
import type { DuplexStream, ServiceContext, StreamCall } from './stream.js';

/** The node handler's Produce method: one producer stream per call. */
export function produceService(context: ServiceContext) {
  return (stream: DuplexStream<ProduceRequest, ProduceResponse>, call: StreamCall): Promise<void> =>
    serveProduce(stream, call, context);
}

/** The node handler's Consume method: one vchannel reader per call. */
export function consumeService(context: ServiceContext) {
  return (stream: DuplexStream<ConsumeRequest, ConsumeResponse>, call: StreamCall): Promise<void> =>
    serveConsume(stream, call, context);
}
