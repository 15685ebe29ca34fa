import { createReadStream } from 'node:fs';
import type { Client } from '@walstream/client';
import { hasCode, type MutableMessage } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { describe } from '../cli.js';
import { type CliIo, defineCommand, integer, nonEmpty, type OptionValues, usageError } from '../command.js';
import { CLIENT_OPTIONS, type ConnectOptions, checkVChannel, connect, connectOptions } from '../connect.js';
import { Histogram } from '../histogram.js';
import { formatMs } from '../latency.js';
import { lineToMessage } from '../records.js';

/** Where lines come from: stdin, a file, or (embedding) any iterable of chunks. */
type Input = AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;

export interface ProduceOptions extends ConnectOptions {
  readonly vchannel: string;
  readonly raw: boolean;
  readonly file: string | undefined;
  readonly create: boolean;
  readonly inflight: number;
  readonly maxMessageBytes: number;
}

export const produce = defineCommand<ProduceOptions>({
  name: 'produce',
  summary: 'append JSON lines (or raw lines) from stdin or a file to a vchannel',
  description: `Appends one message per input line to a vchannel, in input order, through the coordinator's current
owner of its pchannel. A line is {"body": <any JSON>, "properties": {"key": "string"}}; with --raw each
line's text is the body. Blank lines are skipped (not with --raw). A progress line is redrawn on a
terminal's stderr; a summary follows.

Bad input stops it: a malformed line, or one over --max-message-bytes, is reported with its line number
and exit 1; every line before it has been appended and acknowledged, nothing from it on is sent. The
first line is appended alone, so an unknown vchannel fails before anything else is sent.`,
  options: [
    {
      flags: '--vchannel <name>',
      description: 'the vchannel to append to (<pchannel>_<name>v<i>)',
      parse: nonEmpty,
    },
    { flags: '--file <path>', description: 'read lines from this file instead of stdin', parse: nonEmpty },
    { flags: '--raw', description: "each line's text is a message body, no JSON" },
    { flags: '--create', description: 'create the vchannel first (a no-op when it exists)' },
    {
      flags: '--inflight <n>',
      description: 'appends in flight at most, 1..4096 (1: each waits for the previous one)',
      default: 64,
      parse: integer(1, 4_096),
    },
    {
      flags: '--max-message-bytes <n>',
      description: 'refuse a line whose message is larger, 1..67108864',
      default: 4_194_304,
      parse: integer(1, 67_108_864),
    },
    ...CLIENT_OPTIONS,
  ],
  helpAfter: `Examples:
  echo '{"body": {"hello": "world"}, "properties": {"k": "v"}}' | walstream produce --vchannel walstream-0_eventsv0 --create
  walstream produce --vchannel walstream-0_logsv0 --raw --file app.log`,
  resolve: (values: OptionValues): ProduceOptions => {
    if (values.vchannel === undefined) throw usageError('--vchannel is required');
    return {
      ...connectOptions(values),
      vchannel: values.vchannel as string,
      raw: values.raw as boolean,
      file: values.file as string | undefined,
      create: values.create as boolean,
      inflight: values.inflight as number,
      maxMessageBytes: values.maxMessageBytes as number,
    };
  },
  run: runProduce,
});

async function runProduce(options: ProduceOptions, io: CliIo): Promise<number> {
  const input: Input =
    options.file !== undefined ? createReadStream(options.file) : (io.stdin ?? process.stdin);
  const { client, assignment } = await connect(options);
  try {
    checkVChannel(options.vchannel, assignment);
    if (options.create) await client.append(createVChannel(options.vchannel));
    return await pump(client, input, options, io);
  } finally {
    await client.close();
  }
}

/** Reads, parses and appends line by line with at most `inflight` appends outstanding. */
async function pump(client: Client, input: Input, options: ProduceOptions, io: CliIo): Promise<number> {
  const latency = new Histogram();
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  let acknowledged = 0;
  let lastLine = 0;
  /** The first failure: a bad line (nothing from it on was sent) or a failed append. */
  let failure: { line: number; error: unknown; sent: boolean } | undefined;
  let progressAt = 0;
  const showProgress = (force = false): void => {
    if (!io.progress) return;
    const now = performance.now();
    if (!force && now - progressAt < 200) return;
    progressAt = now;
    const seconds = (now - started) / 1_000;
    io.progress(
      `produce ${options.vchannel}: ${acknowledged.toLocaleString('en-US')} acknowledged (${Math.round(acknowledged / Math.max(seconds, 0.001)).toLocaleString('en-US')}/s), ${inFlight.size} in flight, line ${lastLine}`,
    );
  };
  const send = (message: MutableMessage, line: number): Promise<void> => {
    const at = performance.now();
    const pending = client.append(message, io.stop ? { signal: io.stop } : {}).then(
      () => {
        latency.add(performance.now() - at);
        acknowledged++;
      },
      (error: unknown) => {
        if (!failure || failure.line > line) failure = { line, error, sent: true };
      },
    );
    const tracked = pending.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    return tracked;
  };
  let first = true;
  for await (const [line, text] of lines(input)) {
    if (failure || io.stop?.aborted) break;
    if (!options.raw && text.trim() === '') continue;
    let message: MutableMessage;
    try {
      message = lineToMessage(text, line, options.vchannel, options.raw, options.maxMessageBytes);
    } catch (error) {
      failure = { line, error, sent: false };
      break;
    }
    lastLine = line;
    const sent = send(message, line);
    // The first append alone: an unknown vchannel or a refused token fails before anything else is sent.
    if (first) await sent;
    first = false;
    while (inFlight.size >= options.inflight) await Promise.race(inFlight);
    showProgress();
  }
  await Promise.all(inFlight);
  showProgress(true);
  const seconds = (performance.now() - started) / 1_000;
  const summary =
    `produced ${acknowledged.toLocaleString('en-US')} message(s) to ${options.vchannel} in ${seconds.toFixed(2)} s` +
    ` (${Math.round(acknowledged / Math.max(seconds, 0.001)).toLocaleString('en-US')}/s)\nappend latency` +
    ` p50 ${formatMs(latency.quantile(0.5))} p99 ${formatMs(latency.quantile(0.99))} max ${formatMs(latency.count ? latency.max : undefined)}`;
  io.err(summary);
  if (!failure) {
    if (io.stop?.aborted)
      io.err('stopped by a signal: every line read was answered; the rest of the input was not read');
    return 0;
  }
  const { line, error, sent } = failure;
  if (sent) {
    io.err(
      `line ${line}: the append failed: ${explain(error, options.vchannel)}\n` +
        `every line before it was acknowledged; lines after it that were already in flight may have landed (${acknowledged} acknowledged in all), nothing further was sent`,
    );
  } else {
    io.err(
      `${(error as Error).message}\nevery line before it was acknowledged (${acknowledged}); nothing from line ${line} on was sent`,
    );
  }
  return 1;
}

function explain(error: unknown, vchannel: string): string {
  if (hasCode(error, 'VCHANNEL_NOT_FOUND')) {
    return `vchannel ${vchannel} does not exist (VCHANNEL_NOT_FOUND): create it with --create`;
  }
  return describe(error);
}

/** The input's lines, numbered from 1, without their line ends. */
async function* lines(input: Input): AsyncGenerator<[number, string]> {
  const decoder = new TextDecoder();
  let pending = '';
  let number = 0;
  for await (const chunk of input) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const part of parts) yield [++number, part.endsWith('\r') ? part.slice(0, -1) : part];
  }
  pending += decoder.decode();
  if (pending !== '') yield [++number, pending];
}
