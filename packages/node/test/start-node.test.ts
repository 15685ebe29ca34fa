import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { memoryAdapter } from '@walstream/adapter-memory';
import { createWal, DeliverPolicy, MemoryCatalog, WalError } from '@walstream/core';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { startNode } from '@walstream/node';
import { connectRpc } from '@walstream/rpc';
import { describe, expect, it } from 'vitest';
import { userMessage } from './support/in-process.js';
import { assignReady, statusOf, WireConsumer, WireProducer, waitFor } from './support/wire.js';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error.code;
    throw error;
  }
  return 'none';
}

const base = () => ({ catalog: new MemoryCatalog(), listen: '127.0.0.1:0' });

describe('startNode', () => {
  it('refuses options it cannot serve with INVALID_ARGUMENT naming the option', async () => {
    const opener = await createWal()
      .adapter(memoryAdapter())
      .use(...walSemantics())
      .build();
    try {
      await expect(startNode({ ...base() } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(startNode({ ...base(), adapter: memoryAdapter(), opener })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        details: { option: 'adapter' },
      });
      await expect(startNode({ ...base(), opener, semantics: {} })).rejects.toMatchObject({
        details: { option: 'semantics' },
      });
      await expect(startNode({ ...base(), adapter: memoryAdapter(), listn: 'x' } as never)).rejects.toThrow(
        /unknown option listn/,
      );
      await expect(
        startNode({ ...base(), adapter: memoryAdapter(), flowControl: { maxInFlightPerStream: 0 } }),
      ).rejects.toMatchObject({ details: { option: 'flowControl.maxInFlightPerStream' } });
      await expect(startNode({ ...base(), adapter: memoryAdapter(), nodeId: -1n })).rejects.toMatchObject({
        details: { option: 'nodeId' },
      });
    } finally {
      await opener.close();
    }
  });

  it('answers every call without the token UNAUTHENTICATED, and serves the calls that carry it', async () => {
    await using node = await startNode({ ...base(), adapter: memoryAdapter(), token: 'sesame' });
    const anonymous = connectRpc(node.address);
    expect(await codeOf(assignReady(anonymous, 'guarded', 1n))).toBe('UNAUTHENTICATED');
    expect(await codeOf(WireProducer.open(anonymous, 'guarded', 1n))).toBe('UNAUTHENTICATED');
    anonymous.close();
    const trusted = connectRpc(node.address, { token: 'sesame' });
    await assignReady(trusted, 'guarded', 1n);
    trusted.close();
  });

  it('closes gracefully: the appends in flight are answered, the stream ends ON_SHUTDOWN, and the WALs close', async () => {
    const adapter = memoryAdapter();
    adapter.store.faults('draining').set({ appendDelayMs: 100 });
    const node = await startNode({ ...base(), adapter, nodeId: 3n });
    const rpc = connectRpc(node.address);
    await assignReady(rpc, 'draining', 1n);
    const producer = await WireProducer.open(rpc, 'draining', 1n);
    await producer.append(createVChannel('draining_v0'));
    const consumer = await WireConsumer.open(rpc, 'draining', 1n, 'draining_v0', DeliverPolicy.all());
    const sent = await Promise.all(
      Array.from({ length: 10 }, (_, i) => producer.send(userMessage('draining_v0', i))),
    );
    await waitFor(
      async () => (await statusOf(rpc, 'draining'))?.appendsInFlight === 10,
      '10 appends in flight',
    );
    await node.close();
    const outcomes = await Promise.allSettled(sent.map((s) => s.result));
    expect(outcomes.every((o) => o.status === 'fulfilled')).toBe(true);
    await producer.ended;
    expect(producer.closed).toBe(true);
    expect(producer.endError?.code).toBe('ON_SHUTDOWN');
    await consumer.ended;
    expect(consumer.endError?.code).toBe('ON_SHUTDOWN');
    expect(node.walManager.status().map((s) => s.state)).toEqual(['closed']);
    // The server is gone: a new call cannot reach it.
    expect(await codeOf(statusOf(rpc, 'draining'))).toBe('UNAVAILABLE');
    rpc.close();
  });

  it('reports flow control through the meter provider: appends in flight, their bytes, refusals, the rate-limit state', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const adapter = memoryAdapter();
    adapter.store.faults('metered').set({ appendDelayMs: 200 });
    await using node = await startNode({
      ...base(),
      adapter,
      meterProvider,
      flowControl: { maxInFlightPerStream: 4 },
    });
    const rpc = connectRpc(node.address);
    await assignReady(rpc, 'metered', 1n);
    const producer = await WireProducer.open(rpc, 'metered', 1n);
    await producer.append(createVChannel('metered_v0'));
    const sent = await Promise.all(
      Array.from({ length: 6 }, (_, i) => producer.send(userMessage('metered_v0', i, 100))),
    );
    await waitFor(
      () => node.flowControl().appendsInFlight === 4 && node.flowControl().rejected === 2,
      '4 in flight, 2 refused',
    );
    await reader.forceFlush();
    const metrics = new Map(
      exporter
        .getMetrics()
        .flatMap((batch) => batch.scopeMetrics.flatMap((scope) => scope.metrics))
        .map((metric) => [metric.descriptor.name, metric.dataPoints[0]?.value]),
    );
    expect(metrics.get('walstream.node.produce.in_flight')).toBe(4);
    expect(metrics.get('walstream.node.produce.bytes_in_flight')).toBe(node.flowControl().bytesInFlight);
    expect(metrics.get('walstream.node.produce.rejected')).toBe(2);
    expect(metrics.get('walstream.node.rate_limit')).toBe(0);
    await Promise.allSettled(sent.map((s) => s.result));
    await producer.close();
    rpc.close();
    await meterProvider.shutdown();
  });
});
