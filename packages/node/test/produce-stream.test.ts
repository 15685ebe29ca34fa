import { DeliverPolicy, hasCode, WalError } from '@walstream/core';
import {
  create,
  fromWireError,
  type ProduceRequest,
  ProduceRequestSchema,
  type ProduceResponse,
  RateLimitState,
} from '@walstream/rpc';
import { waitFor } from '@walstream/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { serveProduce } from '../src/services/produce.js';
import {
  closeProducer,
  type InProcessStack,
  inProcessStack,
  openProducer,
  produce,
  results,
  userMessage,
} from './support/in-process.js';
import { TestDuplex } from './support/test-duplex.js';

let stack: InProcessStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

function start(
  s: InProcessStack,
  stream: TestDuplex<ProduceRequest, ProduceResponse>,
  signal = new AbortController().signal,
) {
  return serveProduce(stream, { signal }, s.context);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error.code;
    throw error;
  }
  return 'none';
}

describe('the produce stream', () => {
  it('answers open with the node id and the stream cap, and every append with its request id', async () => {
    stack = await inProcessStack('produce-ok', { flowControl: { maxInFlightPerStream: 64 } });
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-ok'));
    for (let i = 0; i < 20; i++) stream.push(produce(BigInt(100 + i), userMessage(stack.vchannel, i)));
    stream.push(closeProducer());
    await served;
    expect(stream.responses[0]!.response).toMatchObject({
      case: 'opened',
      value: { nodeId: 7n, maxInFlight: 64 },
    });
    const answered = results(stream.responses);
    expect(answered.map((r) => r.requestId).sort((a, b) => Number(a - b))).toEqual(
      Array.from({ length: 20 }, (_, i) => BigInt(100 + i)),
    );
    expect(answered.every((r) => r.outcome.case === 'result')).toBe(true);
    expect(stream.responses.at(-1)!.response.case).toBe('closed');
    // They landed: a reader of the vchannel sees all 20, in order.
    await using scanner = await stack.wal.read({
      vchannel: stack.vchannel,
      deliverPolicy: DeliverPolicy.all(),
    });
    const seqs: string[] = [];
    for await (const message of scanner) {
      if (message.properties.seq !== undefined) seqs.push(message.properties.seq);
      if (seqs.length === 20) break;
    }
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('ends INVALID_REQUEST_SEQ when the first request is not open', async () => {
    stack = await inProcessStack('produce-seq');
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    stream.push(produce(1n, userMessage(stack.vchannel, 1)));
    expect(await codeOf(start(stack, stream))).toBe('INVALID_REQUEST_SEQ');
  });

  it('ends CHANNEL_NOT_EXIST for a pchannel the node does not hold and UNMATCHED_CHANNEL_TERM for another term', async () => {
    stack = await inProcessStack('produce-lookup');
    const unknown = new TestDuplex<ProduceRequest, ProduceResponse>();
    unknown.push(openProducer('elsewhere'));
    expect(await codeOf(start(stack, unknown))).toBe('CHANNEL_NOT_EXIST');
    const stale = new TestDuplex<ProduceRequest, ProduceResponse>();
    stale.push(openProducer('produce-lookup', 2n));
    expect(await codeOf(start(stack, stale))).toBe('UNMATCHED_CHANNEL_TERM');
  });

  it('answers a produce without a message INVALID_ARGUMENT and keeps serving the stream', async () => {
    stack = await inProcessStack('produce-bad');
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-bad'));
    stream.push(create(ProduceRequestSchema, { request: { case: 'produce', value: { requestId: 1n } } }));
    stream.push(produce(2n, userMessage(stack.vchannel, 2)));
    stream.push(closeProducer());
    await served;
    const byId = new Map(results(stream.responses).map((r) => [r.requestId, r]));
    const bad = byId.get(1n)!.outcome;
    expect(bad.case === 'error' && fromWireError(bad.value).code).toBe('INVALID_ARGUMENT');
    expect(byId.get(2n)!.outcome.case).toBe('result');
  });

  it('ends INVALID_REQUEST_SEQ on a second open, after answering what was in flight', async () => {
    stack = await inProcessStack('produce-reopen', { appendDelayMs: 20 });
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-reopen'));
    stream.push(produce(1n, userMessage(stack.vchannel, 1)));
    stream.push(openProducer('produce-reopen'));
    expect(await codeOf(served)).toBe('INVALID_REQUEST_SEQ');
    expect(results(stream.responses).map((r) => r.requestId)).toEqual([1n]);
  });

  it('answers appends over the stream cap RATE_LIMIT_REJECTED instead of queueing them', async () => {
    stack = await inProcessStack('produce-cap', {
      flowControl: { maxInFlightPerStream: 4 },
      appendDelayMs: 50,
    });
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-cap'));
    for (let i = 0; i < 20; i++) stream.push(produce(BigInt(i), userMessage(stack.vchannel, i)));
    stream.push(closeProducer());
    await served;
    const answered = results(stream.responses);
    expect(answered).toHaveLength(20);
    const rejected = answered.filter(
      (r) => r.outcome.case === 'error' && fromWireError(r.outcome.value).code === 'RATE_LIMIT_REJECTED',
    );
    const ok = answered.filter((r) => r.outcome.case === 'result');
    expect(ok.length).toBeGreaterThanOrEqual(4);
    expect(rejected.length).toBeGreaterThan(0);
    expect(ok.length + rejected.length).toBe(20);
    expect(stack.flow.stats().peakAppendsInFlight).toBeLessThanOrEqual(4);
  });

  it('stops reading requests while the client reads no results, so nothing piles up on the node', async () => {
    stack = await inProcessStack('produce-held', { flowControl: { maxInFlightPerStream: 8 } });
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-held'));
    await stream.until((r) => r.length === 1, 'opened');
    stream.hold();
    for (let i = 0; i < 500; i++) stream.push(produce(BigInt(i), userMessage(stack.vchannel, i)));
    // 8 appends take the stream's slots and their results wait for the client; the 9th request is
    // answered RATE_LIMIT_REJECTED, and that answer waits too, so the service reads no further.
    await waitFor(
      () => stream.unread === 500 - 9 && stack!.flow.stats().appendsInFlight === 8,
      'the stream to stall',
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.unread).toBe(491);
    expect(stream.pendingSends).toBe(1);
    expect(stack.flow.stats().peakAppendsInFlight).toBe(8);
    stream.release();
    stream.push(closeProducer());
    await served;
    expect(results(stream.responses)).toHaveLength(500);
  });

  it('lets the appends of a client that vanished complete and drops their results', async () => {
    stack = await inProcessStack('produce-gone', { appendDelayMs: 30 });
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const call = new AbortController();
    const served = start(stack, stream, call.signal);
    stream.push(openProducer('produce-gone'));
    for (let i = 0; i < 5; i++) stream.push(produce(BigInt(i), userMessage(stack.vchannel, i)));
    await waitFor(() => stack!.flow.stats().appendsInFlight === 5, 'five appends in flight');
    call.abort();
    stream.fail();
    await served;
    expect(stack.flow.stats()).toMatchObject({ appendsInFlight: 0, bytesInFlight: 0 });
    expect(results(stream.responses)).toHaveLength(0);
  });

  it('pushes SLOWDOWN or REJECT while the node is over its byte budget, and NORMAL once it drained', async () => {
    stack = await inProcessStack('produce-pressure', {
      flowControl: { maxBytesInFlight: 64 * 1024 },
      appendDelayMs: 30,
    });
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-pressure'));
    for (let i = 0; i < 40; i++) stream.push(produce(BigInt(i), userMessage(stack.vchannel, i, 4096)));
    await stream.until((r) => results(r).length === 40, 'every result');
    stream.push(closeProducer());
    await served;
    const levels = stream.responses.flatMap((r) =>
      r.response.case === 'rateLimit' ? [r.response.value.state] : [],
    );
    expect(levels.some((l) => l === RateLimitState.SLOWDOWN || l === RateLimitState.REJECT)).toBe(true);
    expect(levels.at(-1)).toBe(RateLimitState.NORMAL_UNSPECIFIED);
    expect(stack.flow.stats().peakBytesInFlight).toBeLessThanOrEqual(64 * 1024);
  });

  it('answers appends on a fenced WAL CHANNEL_FENCED, then sends closed and ends CHANNEL_FENCED', async () => {
    stack = await inProcessStack('produce-fenced');
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-fenced'));
    stream.push(produce(1n, userMessage(stack.vchannel, 1)));
    await stream.until((r) => results(r).length === 1, 'first result');
    stack.adapter.store.faults('produce-fenced').set({ fenced: true });
    stream.push(produce(2n, userMessage(stack.vchannel, 2)));
    const code = await codeOf(served);
    const second = results(stream.responses).find((r) => r.requestId === 2n);
    if (second) {
      expect(
        second.outcome.case === 'error' && hasCode(fromWireError(second.outcome.value), 'CHANNEL_FENCED'),
      ).toBe(true);
    }
    expect(code).toBe('CHANNEL_FENCED');
    expect(stream.responses.at(-1)!.response.case).toBe('closed');
  });

  it('drains and ends ON_SHUTDOWN when the node shuts down', async () => {
    stack = await inProcessStack('produce-shutdown', { appendDelayMs: 30 });
    const stream = new TestDuplex<ProduceRequest, ProduceResponse>();
    const served = start(stack, stream);
    stream.push(openProducer('produce-shutdown'));
    for (let i = 0; i < 3; i++) stream.push(produce(BigInt(i), userMessage(stack.vchannel, i)));
    await waitFor(() => stack!.flow.stats().appendsInFlight === 3, 'three appends in flight');
    stack.shutdown.abort();
    expect(await codeOf(served)).toBe('ON_SHUTDOWN');
    expect(results(stream.responses).filter((r) => r.outcome.case === 'result')).toHaveLength(3);
  });
});
