import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  defineMessageType,
  diagnosticChannelNames,
  newMessage,
  pchannel,
} from '@walstream/core';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { describe, expect, it } from 'vitest';

const Note = defineMessageType({ name: 'ObservabilityTestNote', code: 4141, flags: {} });
const note = () => newMessage(Note).vchannel('obs_1v0').body(new Uint8Array(10)).build();

describe('observability of the runtime', () => {
  it('counts appends, bytes, WAL states and scanner lag through an OpenTelemetry meter provider', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const opener = await createWal({ meterProvider }).adapter(memoryAdapter()).build();
    const wal = await opener.open({ channel: pchannel('obs', 1n) });
    for (let i = 0; i < 3; i++) await wal.append(note());
    const scanner = await wal.read({ deliverPolicy: DeliverPolicy.all() });
    await scanner.next();
    await reader.forceFlush();
    const metrics = new Map(
      exporter
        .getMetrics()
        .flatMap((batch) => batch.scopeMetrics.flatMap((scope) => scope.metrics))
        .map((metric) => [metric.descriptor.name, metric.dataPoints]),
    );
    const duration = metrics.get('walstream.append.duration')?.[0];
    expect(duration?.attributes).toEqual({ pchannel: 'obs', outcome: 'ok' });
    expect((duration?.value as { count: number }).count).toBe(3);
    expect(metrics.get('walstream.append.size')?.[0]?.value).toBeGreaterThanOrEqual(30);
    expect(metrics.get('walstream.append.in_flight')?.[0]?.value).toBe(0);
    expect(metrics.get('walstream.wal.state')?.map((point) => point.attributes)).toEqual([
      { pchannel: 'obs', state: 'available' },
    ]);
    const lag = metrics.get('walstream.scanner.lag');
    expect(lag?.map((point) => point.attributes)).toEqual([{ pchannel: 'obs' }]);
    expect(lag?.[0]?.value).toBeGreaterThanOrEqual(0);
    await opener.close();
    await meterProvider.shutdown();
  });

  it('logs a fenced WAL at warn through the injected logger', async () => {
    const lines: LogLine[] = [];
    const adapter = memoryAdapter();
    const opener = await createWal({ logger: recordingLogger(lines) })
      .adapter(adapter)
      .build();
    const wal = await opener.open({ channel: pchannel('obs', 1n) });
    await opener.open({ channel: pchannel('obs', 2n) });
    await expect(wal.append(note())).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    expect(lines).toContainEqual({
      level: 'warn',
      fields: { pchannel: 'obs', term: 1n },
      message: expect.stringContaining('fenced'),
    });
    await opener.close();
  });

  it('publishes appends and reads on diagnostics channels', async () => {
    const seen: string[] = [];
    const onAppend = (message: unknown) => seen.push(`append ${(message as { vchannel: string }).vchannel}`);
    const onRead = (message: unknown) => seen.push(`read ${(message as { pchannel: string }).pchannel}`);
    subscribe(`tracing:${diagnosticChannelNames.append}:start`, onAppend);
    subscribe(`tracing:${diagnosticChannelNames.read}:start`, onRead);
    try {
      const opener = await createWal().adapter(memoryAdapter()).build();
      const wal = await opener.open({ channel: pchannel('obs', 1n) });
      await wal.append(note());
      await (await wal.read({ deliverPolicy: DeliverPolicy.all() })).close();
      await opener.close();
    } finally {
      unsubscribe(`tracing:${diagnosticChannelNames.append}:start`, onAppend);
      unsubscribe(`tracing:${diagnosticChannelNames.read}:start`, onRead);
    }
    expect(seen).toEqual(['append obs_1v0', 'read obs']);
  });
});
