import type { Assignment, Client } from '@walstream/client';
import { DeliverPolicy, type ImmutableMessage, vchannelName } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { describe } from '../cli.js';
import { type CliIo, defineCommand, durationOption, integer, type OptionValues } from '../command.js';
import { CLIENT_OPTIONS, type ConnectOptions, connect, connectOptions } from '../connect.js';
import type { Histogram } from '../histogram.js';
import { formatMs } from '../latency.js';
import { type LoadReport, type LoadTarget, runLoad } from '../load.js';

export interface BenchOptions extends ConnectOptions {
  readonly vchannels: number;
  readonly concurrency: number;
  readonly size: number;
  readonly durationMs: number;
  readonly appendOnly: boolean;
  readonly json: boolean;
}

export const bench = defineCommand<BenchOptions>({
  name: 'bench',
  summary: 'produce (and consume) load on a running service; rates and latency percentiles',
  description: `Creates --vchannels new vchannels spread over the service's pchannels, opens a tailing reader on each
(unless --append-only), and appends --size-byte messages with --concurrency appends in flight for
--duration. Prints live progress, then the rates and the append and append → delivered latency
percentiles (p50 … p99.9, max; log buckets, < 1 % error).`,
  options: [
    {
      flags: '--vchannels <n>',
      description: 'vchannels to load, 1..1024',
      default: 4,
      parse: integer(1, 1_024),
    },
    {
      flags: '--concurrency <n>',
      description: 'appends in flight, 1..10000',
      default: 256,
      parse: integer(1, 10_000),
    },
    {
      flags: '--size <bytes>',
      description: 'message body size, 0..16777216',
      default: 1_024,
      parse: integer(0, 16_777_216),
    },
    {
      flags: '--duration <duration>',
      description: 'how long to append',
      default: 5_000,
      defaultText: '5s',
      parse: durationOption,
    },
    { flags: '--append-only', description: 'no readers: measure appends alone' },
    { flags: '--json', description: 'print the result as one JSON object on stdout' },
    ...CLIENT_OPTIONS,
  ],
  resolve: (values: OptionValues): BenchOptions => ({
    ...connectOptions(values),
    vchannels: values.vchannels as number,
    concurrency: values.concurrency as number,
    size: values.size as number,
    durationMs: values.duration as number,
    appendOnly: values.appendOnly as boolean,
    json: values.json as boolean,
  }),
  run: runBench,
});

async function runBench(options: BenchOptions, io: CliIo): Promise<number> {
  const { client, assignment } = await connect(options);
  try {
    const vchannels = benchVChannels(assignment, options.vchannels);
    await Promise.all(vchannels.map((vchannel) => client.append(createVChannel(vchannel))));
    const report = await runLoad(clientTarget(client), {
      vchannels,
      concurrency: options.concurrency,
      size: options.size,
      durationMs: options.durationMs,
      consume: !options.appendOnly,
      progressMs: 1_000,
      ...(io.stop ? { signal: io.stop } : {}),
      onProgress: (p) => {
        const line = `bench ${(p.elapsedMs / 1_000).toFixed(0)}s: ${p.appended.toLocaleString('en-US')} appended (${Math.round(p.rate).toLocaleString('en-US')}/s)${options.appendOnly ? '' : `, ${p.delivered.toLocaleString('en-US')} delivered`}${p.failed ? `, ${p.failed} failed` : ''}`;
        if (io.progress) io.progress(line);
        else if (!options.json) io.err(line);
      },
    });
    if (options.json) io.out(JSON.stringify(reportJson(report, options)));
    else io.err(renderReport(report, options));
    if (report.firstError !== undefined) {
      io.err(`${report.failed} append(s) failed; the first: ${describe(report.firstError)}`);
      return 1;
    }
    return 0;
  } finally {
    await client.close();
  }
}

/** New vchannels for this run, spread round robin over the assigned pchannels. */
export function benchVChannels(assignment: Assignment, count: number): string[] {
  const pchannels = [...assignment.channels.keys()].sort();
  const tag = `bench${Date.now().toString(36)}`;
  return Array.from({ length: count }, (_, i) => vchannelName(pchannels[i % pchannels.length]!, tag, i));
}

export function clientTarget(client: Client): LoadTarget {
  return {
    append: (message) => client.append(message),
    read: (vchannel: string, signal: AbortSignal): AsyncIterable<ImmutableMessage> =>
      client.read(vchannel, { deliverPolicy: DeliverPolicy.latest(), signal }),
  };
}

const QUANTILES = [0.5, 0.9, 0.99, 0.999] as const;

function percentiles(histogram: Histogram): Record<string, number | undefined> {
  return {
    ...Object.fromEntries(QUANTILES.map((q) => [`p${q * 100}`, histogram.quantile(q)])),
    max: histogram.count ? histogram.max : undefined,
  };
}

function reportJson(report: LoadReport, options: BenchOptions) {
  return {
    vchannels: options.vchannels,
    concurrency: options.concurrency,
    size: options.size,
    seconds: report.seconds,
    appended: report.appended,
    failed: report.failed,
    delivered: report.delivered,
    rate: report.rate,
    bytesPerSecond: report.bytesPerSecond,
    appendLatencyMs: percentiles(report.appendLatency),
    ...(options.appendOnly ? {} : { deliverLatencyMs: percentiles(report.deliverLatency) }),
  };
}

/** The end-of-run table. */
export function renderReport(report: LoadReport, options: { size: number; appendOnly: boolean }): string {
  const row = (name: string, h: Histogram) =>
    `${name.padEnd(18)}${QUANTILES.map((q) => formatMs(h.quantile(q)).padStart(10)).join('')}${formatMs(h.count ? h.max : undefined).padStart(10)}`;
  return [
    '',
    `appended ${report.appended.toLocaleString('en-US')} in ${report.seconds.toFixed(2)} s: ${Math.round(report.rate).toLocaleString('en-US')} msg/s, ${(report.bytesPerSecond / 1_048_576).toFixed(1)} MiB/s of ${options.size}-byte bodies` +
      (options.appendOnly ? '' : `; delivered ${report.delivered.toLocaleString('en-US')}`) +
      (report.failed ? `; ${report.failed} failed` : ''),
    `${'latency'.padEnd(18)}${['p50', 'p90', 'p99', 'p99.9', 'max'].map((h) => h.padStart(10)).join('')}`,
    row('append', report.appendLatency),
    ...(options.appendOnly ? [] : [row('append→delivered', report.deliverLatency)]),
  ].join('\n');
}
