import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { WalError } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import {
  AckResponseSchema,
  AllocateRequestSchema,
  AssignmentDiscoverRequestSchema,
  type AssignmentDiscoverResponse,
  AssignmentDiscoverResponseSchema,
  BroadcastRequestSchema,
  BroadcastResponseSchema,
  type CallContext,
  CollectStatusRequestSchema,
  connectRpc,
  create,
  ERROR_TRAILER,
  fromBinary,
  ProduceRequestSchema,
  ProduceResponseSchema,
  type ServerWriter,
  StreamingErrorSchema,
  startRpcServer,
  toBinary,
} from '../src/index.js';
import {
  aborted,
  deferred,
  echoProducer,
  echoTso,
  serve,
  snapshot,
  threeSnapshots,
} from './support/fixtures.js';
import { startTcpProxy } from './support/tcp-proxy.js';

/** The WalError `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<WalError> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error;
    throw new Error(`expected a WalError, got ${String(error)}`);
  }
  throw new Error('expected a rejection, the call succeeded');
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function produce(requestId: bigint) {
  return create(ProduceRequestSchema, {
    request: { case: 'produce', value: { requestId, message: { payload: new Uint8Array([1]) } } },
  });
}

describe('calls over loopback', () => {
  it('a unary call returns the handler response, 64-bit fields exact', async () => {
    await using server = await serve({ tso: echoTso });
    await using channel = connectRpc(server.address);
    const response = await channel.tso.allocate(create(AllocateRequestSchema, { count: 3 }));
    expect(response.first).toBe(2n ** 62n + 3n);
    expect(response.count).toBe(3);
  });

  it('a server stream delivers every response in order, then ends', async () => {
    await using server = await serve({ assignment: threeSnapshots });
    await using channel = connectRpc(server.address);
    const responses = await collect(
      channel.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema)),
    );
    expect(responses.map((r) => r.fullAssignment?.version?.local)).toEqual([1n, 2n, 3n]);
    expect(responses[0]?.fullAssignment?.assignments[0]?.node?.nodeId).toBe(2n ** 62n + 1n);
  });

  it('a bidi call answers each request and ends after the client half-closes', async () => {
    await using server = await serve({ nodeHandler: echoProducer });
    await using channel = connectRpc(server.address);
    const stream = channel.nodeHandler.produce();
    const ids = [1n, 2n, 2n ** 63n];
    for (const id of ids) await stream.send(produce(id));
    stream.end();
    const results = await collect(stream);
    expect(
      results.map((r) => (r.response.case === 'produce' ? r.response.value.requestId : undefined)),
    ).toEqual(ids);
    // The call is over: a later send is refused, not lost silently.
    expect((await rejection(stream.send(produce(4n)))).code).toBe('CLOSED');
  });

  it('a method of a service the server does not offer is NOT_REGISTERED', async () => {
    await using server = await serve({ tso: echoTso });
    await using channel = connectRpc(server.address);
    const error = await rejection(channel.nodeManager.collectStatus(create(CollectStatusRequestSchema)));
    expect(error.code).toBe('NOT_REGISTERED');
    expect(error.retriable).toBe(false);
  });
});

describe('errors travel as WalErrors', () => {
  const fenced = () =>
    new WalError('CHANNEL_FENCED', 'pchannel p0 is fenced at term 7', {
      retriable: false,
      details: { pchannel: 'p0', term: 2n ** 63n - 1n, written: false, ratio: 0.5 },
    });

  function expectFenced(error: WalError): void {
    expect(error.code).toBe('CHANNEL_FENCED');
    expect(error.retriable).toBe(false);
    expect(error.message).toBe('pchannel p0 is fenced at term 7');
    expect(error.details).toEqual({ pchannel: 'p0', term: 2n ** 63n - 1n, written: false, ratio: 0.5 });
  }

  it('a WalError thrown by a unary handler arrives as the same WalError', async () => {
    await using server = await serve({
      tso: {
        allocate: async () => {
          throw fenced();
        },
      },
    });
    await using channel = connectRpc(server.address);
    expectFenced(await rejection(channel.tso.allocate(create(AllocateRequestSchema, { count: 1 }))));
  });

  it('a WalError thrown by a bidi handler after some responses arrives after them', async () => {
    await using server = await serve({
      nodeHandler: {
        ...echoProducer,
        produce: async (stream) => {
          for await (const request of stream) {
            if (request.request.case === 'produce' && request.request.value.requestId === 3n) throw fenced();
            await stream.send(create(ProduceResponseSchema, { response: { case: 'closed', value: {} } }));
          }
        },
      },
    });
    await using channel = connectRpc(server.address);
    const stream = channel.nodeHandler.produce();
    for (const id of [1n, 2n, 3n]) await stream.send(produce(id));
    const received: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const response of stream) received.push(String(response.response.case));
      })(),
    );
    expect(received).toEqual(['closed', 'closed']);
    expectFenced(error);
  });

  it('a plain Error thrown by a handler arrives as UNKNOWN with its message', async () => {
    await using server = await serve({
      tso: {
        allocate: async () => {
          throw new TypeError('cannot read properties of undefined');
        },
      },
    });
    await using channel = connectRpc(server.address);
    const error = await rejection(channel.tso.allocate(create(AllocateRequestSchema, { count: 1 })));
    expect(error.code).toBe('UNKNOWN');
    expect(error.retriable).toBe(false);
    expect(error.message).toBe('cannot read properties of undefined');
  });

  it('a server that is not there is UNAVAILABLE and retriable', async () => {
    const server = await serve({ tso: echoTso });
    const address = server.address;
    await server.close();
    await using channel = connectRpc(address);
    const error = await rejection(channel.tso.allocate(create(AllocateRequestSchema, { count: 1 })));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.retriable).toBe(true);
  });

  it('a deadline that passes is TIMEOUT on the client and aborts the handler', async () => {
    const handlerAborted = deferred<unknown>();
    await using server = await serve({
      tso: {
        allocate: async (_request, call) => {
          handlerAborted.resolve(await aborted(call.signal));
          throw new WalError('ABORTED', 'gave up');
        },
      },
    });
    await using channel = connectRpc(server.address);
    const error = await rejection(
      channel.tso.allocate(create(AllocateRequestSchema, { count: 1 }), { deadlineMs: 100 }),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.retriable).toBe(true);
    expect(WalError.is(await handlerAborted.promise)).toBe(true);
  });

  it('a call cancelled by its signal is ABORTED with the signal reason, and the handler sees it', async () => {
    const started = deferred<CallContext>();
    await using server = await serve({
      tso: {
        allocate: async (_request, call) => {
          started.resolve(call);
          await aborted(call.signal);
          throw new WalError('ABORTED', 'gave up');
        },
      },
    });
    await using channel = connectRpc(server.address);
    const controller = new AbortController();
    const call = channel.tso.allocate(create(AllocateRequestSchema, { count: 1 }), {
      signal: controller.signal,
    });
    const context = await started.promise;
    controller.abort('user gave up');
    const error = await rejection(call);
    expect(error.code).toBe('ABORTED');
    expect(error.cause).toBe('user gave up');
    await aborted(context.signal);
    expect(context.signal.aborted).toBe(true);
  });
});

describe('streams and connections', () => {
  it('a client that disappears mid-stream aborts the handler signal', async () => {
    const opened = deferred<CallContext>();
    const handlerEnded = deferred<unknown>();
    await using server = await serve({
      nodeHandler: {
        ...echoProducer,
        produce: async (stream, call) => {
          opened.resolve(call);
          try {
            for await (const _ of stream) {
              // reading until the client goes away
            }
          } catch (error) {
            handlerEnded.resolve(error);
          }
        },
      },
    });
    const proxy = await startTcpProxy(server.address);
    await using channel = connectRpc(proxy.address);
    const stream = channel.nodeHandler.produce();
    await stream.send(produce(1n));
    const call = await opened.promise;
    proxy.drop();
    await aborted(call.signal);
    expect(call.signal.aborted).toBe(true);
    // The handler's iteration of the requests ends with ABORTED too, rather than hanging.
    const error = await handlerEnded.promise;
    expect(WalError.is(error) && error.code).toBe('ABORTED');
    await proxy.close();
    // The client sees its stream fail with a coded, retriable transport error.
    const clientError = await rejection(collect(stream));
    expect(clientError.code).toBe('UNAVAILABLE');
  });

  it('a server stream writer waits while the client does not read, and goes on when it reads', async () => {
    const blocked = deferred<number>();
    let pendingSend: { settled: boolean } | undefined;
    const after = 3;
    await using server = await serve({
      tso: echoTso,
      assignment: {
        ...threeSnapshots,
        assignmentDiscover: async (_request, stream: ServerWriter<AssignmentDiscoverResponse>) => {
          for (let i = 0; i < 100_000; i++) {
            const state = { settled: false };
            const sent = stream
              .send(
                create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(BigInt(i), 32 * 1024) }),
              )
              .then(() => {
                state.settled = true;
              });
            // A send that is not done by the next turn of the event loop is waiting for 'drain'.
            await new Promise((resolve) => setImmediate(resolve));
            if (!state.settled) {
              pendingSend = state;
              blocked.resolve(i);
              await sent;
              for (let j = 1; j <= after; j++) {
                await stream.send(
                  create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(BigInt(i + j)) }),
                );
              }
              return;
            }
          }
          throw new Error('the writer never had to wait');
        },
      },
    });
    await using channel = connectRpc(server.address);
    const responses = channel.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema));
    const blockedAt = await blocked.promise;
    // A full round trip on the same connection later, the send is still waiting: nothing was read.
    await channel.tso.allocate(create(AllocateRequestSchema, { count: 1 }));
    expect(pendingSend?.settled).toBe(false);
    const received = await collect(responses);
    expect(pendingSend?.settled).toBe(true);
    expect(received.map((r) => r.fullAssignment?.version?.local)).toEqual(
      Array.from({ length: blockedAt + 1 + after }, (_, i) => BigInt(i)),
    );
    expect(blockedAt).toBeGreaterThan(0);
  });

  it('a thousand sends waiting for drain at once share one wait: no listener-leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const allQueued = deferred<number>();
    try {
      await using server = await serve({
        assignment: {
          ...threeSnapshots,
          assignmentDiscover: async (_request, stream) => {
            const sends = Array.from({ length: 1000 }, (_, i) =>
              stream.send(
                create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(BigInt(i), 1024) }),
              ),
            );
            allQueued.resolve(sends.length);
            await Promise.all(sends);
          },
        },
      });
      await using channel = connectRpc(server.address);
      const responses = channel.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema));
      expect(await allQueued.promise).toBe(1000);
      const received = await collect(responses);
      expect(received.map((r) => r.fullAssignment?.version?.local)).toEqual(
        Array.from({ length: 1000 }, (_, i) => BigInt(i)),
      );
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });

  it('a client duplex send waits while the server does not read, and goes on when it reads', async () => {
    const startReading = deferred();
    let read = 0;
    await using server = await serve({
      tso: echoTso,
      nodeHandler: {
        ...echoProducer,
        produce: async (stream) => {
          await startReading.promise;
          for await (const _ of stream) read++;
        },
      },
    });
    await using channel = connectRpc(server.address);
    const stream = channel.nodeHandler.produce();
    const big = (id: bigint) =>
      create(ProduceRequestSchema, {
        request: {
          case: 'produce',
          value: { requestId: id, message: { payload: new Uint8Array(32 * 1024) } },
        },
      });
    let sent = 0;
    let pending: { settled: boolean; done: Promise<void> } | undefined;
    for (let i = 0n; i < 100_000n && pending === undefined; i++) {
      const state = { settled: false, done: Promise.resolve() };
      state.done = stream.send(big(i)).then(() => {
        state.settled = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      sent++;
      if (!state.settled) pending = state;
    }
    expect(pending).toBeDefined();
    await channel.tso.allocate(create(AllocateRequestSchema, { count: 1 }));
    expect(pending?.settled).toBe(false);
    startReading.resolve();
    await pending?.done;
    expect(pending?.settled).toBe(true);
    stream.end();
    await collect(stream);
    expect(read).toBe(sent);
    expect(sent).toBeGreaterThan(1);
  });

  it('a server stream cancelled by the client fails its iteration with ABORTED', async () => {
    const opened = deferred<CallContext>();
    await using server = await serve({
      assignment: {
        ...threeSnapshots,
        assignmentDiscover: async (_request, stream, call) => {
          await stream.send(create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(1n) }));
          opened.resolve(call);
          await aborted(call.signal);
        },
      },
    });
    await using channel = connectRpc(server.address);
    const responses = channel.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema));
    const iterator = responses[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.fullAssignment?.version?.local).toBe(1n);
    const call = await opened.promise;
    responses.cancel();
    const error = await rejection(iterator.next());
    expect([error.code, error.retriable]).toEqual(['ABORTED', false]);
    await aborted(call.signal);
    expect(call.signal.aborted).toBe(true);
  });

  it('leaving the loop over a server stream early cancels the call, and the handler sees it', async () => {
    const handlerEnded = deferred<string>();
    await using server = await serve({
      assignment: {
        ...threeSnapshots,
        assignmentDiscover: async (_request, stream, call) => {
          try {
            for (let i = 0n; ; i++) {
              await stream.send(
                create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(i, 4096) }),
              );
            }
          } catch (error) {
            handlerEnded.resolve(WalError.is(error) ? error.code : String(error));
            expect(call.signal.aborted).toBe(true);
          }
        },
      },
    });
    await using channel = connectRpc(server.address);
    for await (const response of channel.assignment.assignmentDiscover(
      create(AssignmentDiscoverRequestSchema),
    )) {
      expect(response.fullAssignment?.version?.local).toBe(0n);
      break;
    }
    expect(await handlerEnded.promise).toBe('ABORTED');
  });

  it('a message over the size limit is INVALID_ARGUMENT, and the server keeps serving', async () => {
    await using server = await serve(
      {
        tso: echoTso,
        broadcast: {
          broadcast: async () => create(BroadcastResponseSchema, { broadcastId: 1n }),
          ack: async () => create(AckResponseSchema),
        },
      },
      { maxMessageBytes: 1024 },
    );
    await using channel = connectRpc(server.address);
    const big = create(BroadcastRequestSchema, { message: { payload: new Uint8Array(4096) } });
    const error = await rejection(channel.broadcast.broadcast(big));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.retriable).toBe(false);
    expect((await channel.tso.allocate(create(AllocateRequestSchema, { count: 2 }))).count).toBe(2);
    const small = await channel.broadcast.broadcast(
      create(BroadcastRequestSchema, { message: { payload: new Uint8Array(8) } }),
    );
    expect(small.broadcastId).toBe(1n);
  });

  it('a response over the server limit fails the call INVALID_ARGUMENT and aborts the handler', async () => {
    const handlerSaw = deferred<string>();
    await using server = await serve(
      {
        assignment: {
          ...threeSnapshots,
          assignmentDiscover: async (_request, stream) => {
            try {
              await stream.send(
                create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(1n, 8192) }),
              );
              for (let i = 0; i < 100; i++) {
                await stream.send(create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(2n) }));
              }
              handlerSaw.resolve('every send resolved');
            } catch (error) {
              handlerSaw.resolve(WalError.is(error) ? error.code : String(error));
            }
          },
        },
      },
      { maxMessageBytes: 1024 },
    );
    await using channel = connectRpc(server.address);
    const error = await rejection(
      collect(channel.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema))),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(await handlerSaw.promise).toBe('ABORTED');
  });

  it('a response over the client limit is INVALID_ARGUMENT on the client', async () => {
    await using server = await serve({
      assignment: {
        ...threeSnapshots,
        assignmentDiscover: async (_r, stream) => {
          await stream.send(create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(1n, 8192) }));
        },
      },
    });
    await using channel = connectRpc(server.address, { maxMessageBytes: 1024 });
    const error = await rejection(
      collect(channel.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema))),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
  });

  it('keepalive finds a connection that went silent: the call fails UNAVAILABLE', async () => {
    const opened = deferred<void>();
    await using server = await serve({
      nodeHandler: {
        ...echoProducer,
        produce: async (stream, call) => {
          opened.resolve();
          for await (const _ of stream) {
            // until the connection is declared dead
          }
          await aborted(call.signal);
        },
      },
    });
    const proxy = await startTcpProxy(server.address);
    await using channel = connectRpc(proxy.address, { keepalive: { timeMs: 200, timeoutMs: 300 } });
    const stream = channel.nodeHandler.produce();
    await stream.send(produce(1n));
    await opened.promise;
    proxy.blackhole();
    const error = await rejection(collect(stream));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.retriable).toBe(true);
    await proxy.close();
  });
});

describe('malformed requests', () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const raw = (address: string) => new Client(address, credentials.createInsecure());
  const trailerCode = (metadata: Metadata | undefined): string | undefined => {
    const value = metadata?.get(ERROR_TRAILER)[0];
    return value instanceof Buffer ? fromBinary(StreamingErrorSchema, value).code : undefined;
  };

  it('a unary request that does not decode is INVALID_ARGUMENT in the trailer; the handler never runs', async () => {
    let calls = 0;
    await using server = await serve({
      tso: {
        allocate: async (request, call) => {
          calls++;
          return echoTso.allocate(request, call);
        },
      },
    });
    const client = raw(server.address);
    const status = await new Promise<{ code: number; metadata?: Metadata }>((resolve) => {
      client.makeUnaryRequest(
        '/walstream.v1.TsoService/Allocate',
        () => garbage,
        (bytes: Buffer) => bytes,
        null,
        new Metadata(),
        {},
        (error) => resolve(error ?? { code: 0 }),
      );
    });
    client.close();
    expect(trailerCode(status.metadata)).toBe('INVALID_ARGUMENT');
    expect(calls).toBe(0);
    await using channel = connectRpc(server.address);
    expect((await channel.tso.allocate(create(AllocateRequestSchema, { count: 5 }))).count).toBe(5);
  });

  it('a garbage frame on a bidi stream fails the handler iteration with INVALID_ARGUMENT after the good ones', async () => {
    const seen: bigint[] = [];
    await using server = await serve({
      nodeHandler: {
        ...echoProducer,
        produce: async (stream) => {
          for await (const request of stream) {
            if (request.request.case === 'produce') seen.push(request.request.value.requestId);
          }
        },
      },
    });
    const client = raw(server.address);
    const call = client.makeBidiStreamRequest(
      '/walstream.v1.NodeHandlerService/Produce',
      (frame: Buffer) => frame,
      (bytes: Buffer) => bytes,
      new Metadata(),
      {},
    );
    const status = new Promise<{ code: number; metadata?: Metadata }>((resolve) => {
      call.on('error', resolve);
      call.on('status', resolve);
      call.on('data', () => {});
    });
    call.write(Buffer.from(toBinary(ProduceRequestSchema, produce(1n))));
    call.write(garbage);
    const ended = await status;
    client.close();
    expect(trailerCode(ended.metadata)).toBe('INVALID_ARGUMENT');
    expect(seen).toEqual([1n]);
  });
});

describe('server close', () => {
  it('close waits for calls up to the grace period, then cancels them and their handlers see it', async () => {
    const opened = deferred<CallContext>();
    const server = await serve({
      tso: echoTso,
      assignment: {
        ...threeSnapshots,
        assignmentDiscover: async (_request, stream, call) => {
          await stream.send(create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(1n) }));
          opened.resolve(call);
          await aborted(call.signal);
        },
      },
    });
    await using channel = connectRpc(server.address);
    const responses = channel.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema));
    const received = collect(responses).catch((error: unknown) => error);
    const call = await opened.promise;
    await server.close({ graceMs: 50 });
    expect(call.signal.aborted).toBe(true);
    const outcome = await received;
    expect(WalError.is(outcome) && [outcome.code, outcome.retriable]).toEqual(['ON_SHUTDOWN', true]);
  });
});

describe('options', () => {
  it('a service without one of its handlers, or an unknown service, is INVALID_ARGUMENT naming it', async () => {
    const missing = await rejection(serve({ nodeHandler: { produce: echoProducer.produce } as never }));
    expect(missing.details.option).toBe('services.nodeHandler.consume');
    const unknown = await rejection(serve({ tsos: echoTso } as never));
    expect(unknown.details.option).toBe('services.tsos');
    const listen = await rejection(startRpcServer({ listen: 'localhost', services: {} }));
    expect(listen.details.option).toBe('listen');
  });

  it('a closed channel refuses new calls with CLOSED; a second close is harmless', async () => {
    await using server = await serve({ tso: echoTso });
    const channel = connectRpc(server.address);
    expect((await channel.tso.allocate(create(AllocateRequestSchema, { count: 1 }))).count).toBe(1);
    channel.close();
    channel.close();
    const error = await rejection(channel.tso.allocate(create(AllocateRequestSchema, { count: 1 })));
    expect([error.code, error.retriable]).toEqual(['CLOSED', false]);
    expect(() => channel.nodeHandler.produce()).toThrowError(/closed/);
  });

  it('bad options are INVALID_ARGUMENT naming the option', async () => {
    const listen = await rejection(serve({}, { maxMessageBytes: 0 }));
    expect(listen.details.option).toBe('maxMessageBytes');
    expect(() => connectRpc('nowhere')).toThrowError(/host:port/);
    await using server = await serve({ tso: echoTso });
    const grace = await rejection(server.close({ graceMs: -1 }));
    expect(grace.details.option).toBe('graceMs');
    try {
      connectRpc('127.0.0.1:1', { keepalive: { timeMs: -1 } });
      expect.unreachable();
    } catch (error) {
      expect(WalError.is(error) && error.details.option).toBe('keepalive.timeMs');
    }
  });
});
