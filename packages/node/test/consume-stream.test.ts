import { DeliverPolicy, WalError } from '@walstream/core';
import { beginTxnMessage, commitTxnMessage, inTxn } from '@walstream/interceptors';
import { type ConsumeRequest, type ConsumeResponse, fromWireImmutable, fromWireTxn } from '@walstream/rpc';
import { afterEach, describe, expect, it } from 'vitest';
import { serveConsume } from '../src/services/consume.js';
import {
  closeConsumer,
  consumed,
  type InProcessStack,
  inProcessStack,
  openConsumer,
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
  stream: TestDuplex<ConsumeRequest, ConsumeResponse>,
  signal = new AbortController().signal,
) {
  return serveConsume(stream, { signal }, s.context);
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

function userSeqs(responses: readonly ConsumeResponse[]): string[] {
  return consumed(responses).flatMap((r) =>
    r.case === 'message' && r.value.properties.seq !== undefined ? [r.value.properties.seq] : [],
  );
}

describe('the consume stream', () => {
  it('delivers the vchannel in order from the deliver policy, and a committed txn as one TxnMessage', async () => {
    stack = await inProcessStack('consume-txn');
    const { wal, vchannel } = stack;
    const first = await wal.append(userMessage(vchannel, 0));
    const begin = await wal.append(beginTxnMessage(vchannel));
    const txn = begin.txn!;
    await wal.append(inTxn(userMessage(vchannel, 1), txn));
    await wal.append(inTxn(userMessage(vchannel, 2), txn));
    await wal.append(commitTxnMessage(vchannel, txn));
    await wal.append(userMessage(vchannel, 3));
    const stream = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    const served = start(stack, stream);
    stream.push(openConsumer('consume-txn', vchannel, DeliverPolicy.startFrom(first.messageId)));
    await stream.until((r) => userSeqs(r).includes('3'), 'message 3');
    stream.push(closeConsumer());
    await served;
    expect(stream.responses[0]!.response).toMatchObject({ case: 'opened', value: { nodeId: 7n } });
    expect(userSeqs(stream.responses)).toEqual(['0', '3']);
    const txns = consumed(stream.responses).filter((r) => r.case === 'txn');
    expect(txns).toHaveLength(1);
    const delivered = fromWireTxn(txns[0]!.value as never);
    expect(delivered.bodies.map((b) => b.properties.seq)).toEqual(['1', '2']);
    expect(stream.responses.at(-1)!.response.case).toBe('closed');
    // The plain message round-trips with its id.
    const zero = consumed(stream.responses).find((r) => r.case === 'message')!;
    expect(fromWireImmutable(zero.value as never).id.marshal()).toBe(first.messageId.marshal());
  });

  it('keeps one send waiting while the client reads nothing, and delivers everything in order once it reads', async () => {
    stack = await inProcessStack('consume-slow', { consumerReadAhead: 8 });
    const { wal, vchannel } = stack;
    const stream = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    const served = start(stack, stream);
    stream.push(openConsumer('consume-slow', vchannel, DeliverPolicy.all()));
    await stream.until((r) => r.length >= 1, 'opened');
    stream.hold();
    for (let i = 0; i < 300; i++) await wal.append(userMessage(vchannel, i));
    // One send waits; the loop does not run ahead of it.
    expect(stream.pendingSends).toBeLessThanOrEqual(1);
    stream.release();
    await stream.until((r) => userSeqs(r).length === 300, 'all 300 messages');
    expect(userSeqs(stream.responses)).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
    stream.push(closeConsumer());
    await served;
  });

  it('ends INVALID_REQUEST_SEQ when the first request is not open, and on a second open', async () => {
    stack = await inProcessStack('consume-seq');
    const first = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    first.push(closeConsumer());
    expect(await codeOf(start(stack, first))).toBe('INVALID_REQUEST_SEQ');
    const twice = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    twice.push(openConsumer('consume-seq', stack.vchannel, DeliverPolicy.all()));
    twice.push(openConsumer('consume-seq', stack.vchannel, DeliverPolicy.all()));
    expect(await codeOf(start(stack, twice))).toBe('INVALID_REQUEST_SEQ');
  });

  it('ends CHANNEL_NOT_EXIST for a pchannel the node does not hold', async () => {
    stack = await inProcessStack('consume-unknown');
    const stream = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    stream.push(openConsumer('elsewhere', 'elsewhere_v0', DeliverPolicy.all()));
    expect(await codeOf(start(stack, stream))).toBe('CHANNEL_NOT_EXIST');
  });

  it('ends INVALID_ARGUMENT for an open without a deliver policy', async () => {
    stack = await inProcessStack('consume-nopolicy');
    const stream = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    const open = openConsumer('consume-nopolicy', stack.vchannel, DeliverPolicy.all());
    if (open.request.case === 'open') open.request.value.deliverPolicy = undefined;
    stream.push(open);
    expect(await codeOf(start(stack, stream))).toBe('INVALID_ARGUMENT');
  });

  it('ends ON_SHUTDOWN when the node shuts down, and returns quietly when the client vanished', async () => {
    stack = await inProcessStack('consume-end');
    const a = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    const servedA = start(stack, a);
    a.push(openConsumer('consume-end', stack.vchannel, DeliverPolicy.all()));
    await a.until((r) => r.length >= 1, 'opened');
    const b = new TestDuplex<ConsumeRequest, ConsumeResponse>();
    const call = new AbortController();
    const servedB = start(stack, b, call.signal);
    b.push(openConsumer('consume-end', stack.vchannel, DeliverPolicy.all()));
    await b.until((r) => r.length >= 1, 'opened');
    call.abort();
    b.fail();
    expect(await codeOf(servedB)).toBe('none');
    stack.shutdown.abort();
    expect(await codeOf(servedA)).toBe('ON_SHUTDOWN');
  });
});
