import { DeliverPolicy, hasCode, unmarshalMessageId } from '@walstream/core';
import {
  type CliIo,
  defineCommand,
  durationOption,
  integer,
  nonEmpty,
  type OptionValues,
  usageError,
} from '../command.js';
import { CLIENT_OPTIONS, type ConnectOptions, checkVChannel, connect, connectOptions } from '../connect.js';
import { isApplicationMessage, toRecordLines } from '../records.js';

export interface ConsumeOptions extends ConnectOptions {
  readonly vchannel: string;
  readonly from: DeliverPolicy;
  readonly limit: number | undefined;
  readonly idleMs: number | undefined;
  readonly txn: boolean;
  readonly all: boolean;
}

export const consume = defineCommand<ConsumeOptions>({
  name: 'consume',
  summary: 'print a vchannel as JSON lines, tail-style, from a position',
  description: `Reads a vchannel through the coordinator's current owner of its pchannel and prints one JSON object per
message on stdout: {"id", "timeTick", "vchannel", "type", "body", "properties"} ("bodyBase64" for a body
that is not UTF-8; "txn" on the bodies of a committed txn). It follows the vchannel until Ctrl-C,
--limit messages, or --idle without a message; it resumes across node moves without a gap or a
duplicate. Timeticks and vchannel lifecycle messages are left out unless --all.`,
  options: [
    { flags: '--vchannel <name>', description: 'the vchannel to read', parse: nonEmpty },
    {
      flags: '--from <position>',
      description: 'earliest, latest, or an id printed by an earlier consume (that message included)',
      default: 'earliest',
      parse: nonEmpty,
    },
    {
      flags: '--limit <n>',
      description: 'stop after this many messages, 1..1000000000',
      parse: integer(1, 1e9),
    },
    {
      flags: '--idle <duration>',
      description: 'stop after this long without a message',
      parse: durationOption,
    },
    {
      flags: '--txn',
      description: 'print a committed txn as one line with its "messages", not body by body',
    },
    { flags: '--all', description: 'print every message, timeticks and vchannel lifecycle included' },
    ...CLIENT_OPTIONS,
  ],
  helpAfter: `Examples:
  walstream consume --vchannel walstream-0_eventsv0 --limit 10
  walstream consume --vchannel walstream-0_eventsv0 --from latest | jq .body`,
  resolve: (values: OptionValues): ConsumeOptions => {
    if (values.vchannel === undefined) throw usageError('--vchannel is required');
    return {
      ...connectOptions(values),
      vchannel: values.vchannel as string,
      from: position(values.from as string),
      limit: values.limit as number | undefined,
      idleMs: values.idle as number | undefined,
      txn: values.txn as boolean,
      all: values.all as boolean,
    };
  },
  run: runConsume,
});

function position(raw: string): DeliverPolicy {
  if (raw === 'earliest') return DeliverPolicy.all();
  if (raw === 'latest') return DeliverPolicy.latest();
  const cut = raw.indexOf(':');
  if (cut > 0) {
    try {
      return DeliverPolicy.startFrom(unmarshalMessageId(raw.slice(0, cut), raw.slice(cut + 1)));
    } catch (error) {
      throw usageError(`--from ${raw}: not a message id (${(error as Error).message})`);
    }
  }
  throw usageError(`--from must be earliest, latest or a message id such as local:0.42, got "${raw}"`);
}

async function runConsume(options: ConsumeOptions, io: CliIo): Promise<number> {
  const { client, assignment } = await connect(options);
  const stop = new AbortController();
  const onStop = (): void => stop.abort();
  io.stop?.addEventListener('abort', onStop, { once: true });
  if (io.stop?.aborted) stop.abort();
  let idleTimer: NodeJS.Timeout | undefined;
  let idled = false;
  const armIdle = (): void => {
    if (options.idleMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      idled = true;
      stop.abort();
    }, options.idleMs);
  };
  let printed = 0;
  try {
    checkVChannel(options.vchannel, assignment);
    armIdle();
    try {
      for await (const message of client.read(options.vchannel, {
        deliverPolicy: options.from,
        signal: stop.signal,
      })) {
        armIdle();
        if (!options.all && !isApplicationMessage(message)) continue;
        for (const line of toRecordLines(message, options.txn)) {
          io.out(JSON.stringify(line));
          printed++;
          if (options.limit !== undefined && printed >= options.limit) return 0;
        }
      }
    } catch (error) {
      // Ctrl-C or --idle: the end the user asked for.
      if (stop.signal.aborted && hasCode(error, 'ABORTED', 'CLOSED')) {
        if (idled) io.err(`consume: no message for ${options.idleMs} ms; ${printed} printed`);
        return 0;
      }
      throw error;
    }
    return 0;
  } finally {
    clearTimeout(idleTimer);
    io.stop?.removeEventListener('abort', onStop);
    await client.close();
  }
}
