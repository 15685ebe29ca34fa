import { runCoordinator } from '@walstream/coord';
import {
  address,
  type CliIo,
  defineCommand,
  integer,
  nonEmpty,
  type OptionValues,
  usageError,
} from '../command.js';
import { stayUp } from './up.js';

/** What `walstream coord` was asked to do. */
export interface CoordOptions {
  readonly etcd: readonly string[];
  readonly prefix: string;
  readonly listen: string;
  readonly pchannels: readonly string[];
  readonly policy: string;
  readonly ttlSeconds: number;
  readonly candidate: string | undefined;
  readonly advertise: string | undefined;
  readonly token: string | undefined;
}

/** `http://host:port,http://other:port` → the etcd client URLs. */
export function etcdEndpoints(raw: string, name: string): readonly string[] {
  const urls = raw.split(',').map((part) => part.trim());
  for (const url of urls) {
    if (!/^https?:\/\/[^/]+:\d+\/?$/.test(url)) {
      throw usageError(`${name} must be etcd client URLs such as http://127.0.0.1:2379, got "${raw}"`);
    }
  }
  return urls;
}

/** `8` → dml-0..dml-7; `a,b,c` → those names. */
function pchannelList(raw: string, name: string): readonly string[] {
  if (/^\d+$/.test(raw)) {
    const count = integer(1, 1024)(raw, name);
    return Array.from({ length: count }, (_, i) => `dml-${i}`);
  }
  const names = raw.split(',').map((part) => part.trim());
  if (names.some((n) => !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(n)) || new Set(names).size !== names.length) {
    throw usageError(
      `${name} must be a count (1..1024) or distinct names of letters, digits, '.' and '-' (no '_': it separates a vchannel's name), got "${raw}"`,
    );
  }
  return names;
}

export const coord = defineCommand<CoordOptions>({
  name: 'coord',
  summary:
    'run a coordinator on etcd: campaigns, and while elected assigns pchannels to the registered nodes',
  description: `Runs a StreamingCoord for a deployment whose metadata lives in etcd. Several
may run: one is elected (a key under a lease of --ttl seconds) and serves on
--listen — pchannel assignment, broadcast, TSO — while the others wait and
serve nothing; when the active one dies a standby takes over after about --ttl
seconds, from what the catalog in etcd holds. Nodes join with \`walstream
node\` on the same --etcd and --prefix. Ctrl-C resigns at once, so a standby
takes over without waiting.`,
  options: [
    {
      flags: '--etcd <urls>',
      description: 'etcd client URLs, comma-separated (e.g. http://127.0.0.1:2379)',
      parse: etcdEndpoints,
    },
    {
      flags: '--listen <host:port>',
      description: 'where the coordinator serves while it is the active one',
      default: '127.0.0.1:7700',
      parse: address,
    },
    {
      flags: '--pchannels <n|names>',
      description: 'the pchannels: a count (dml-0, dml-1, ...) or comma-separated names',
      parse: pchannelList,
    },
    {
      flags: '--prefix <prefix>',
      description: 'prefix of every etcd key',
      default: 'walstream/',
      parse: nonEmpty,
    },
    {
      flags: '--policy <name>',
      description: 'balance policy: vchannelFair or pchannelCount',
      default: 'vchannelFair',
      parse: nonEmpty,
    },
    {
      flags: '--ttl <seconds>',
      description: 'lease TTL of the election (etcd raises anything below 2 to 2)',
      default: 10,
      parse: integer(1, 3_600),
    },
    {
      flags: '--candidate <name>',
      description: 'the name written to the election key',
      defaultText: 'the --listen address',
      parse: nonEmpty,
    },
    {
      flags: '--advertise <host:port>',
      description:
        'the address others reach this coordinator at, when it differs from --listen (e.g. --listen 0.0.0.0:7700)',
      parse: address,
    },
    {
      flags: '--token <token>',
      description: 'a bearer token every call must carry (also sent to nodes)',
      parse: nonEmpty,
    },
  ],
  helpAfter: `
Example:
  walstream coord --etcd http://127.0.0.1:2379 --listen 127.0.0.1:7700 --pchannels 8 --ttl 2`,
  resolve: resolveCoord,
  run: runCoord,
});

function resolveCoord(values: OptionValues): CoordOptions {
  if (values.etcd === undefined) throw usageError('--etcd is required: the etcd that holds the catalog');
  if (values.pchannels === undefined) throw usageError('--pchannels is required: a count or names');
  return {
    etcd: values.etcd as readonly string[],
    prefix: values.prefix as string,
    listen: values.listen as string,
    pchannels: values.pchannels as readonly string[],
    policy: values.policy as string,
    ttlSeconds: values.ttl as number,
    candidate: values.candidate as string | undefined,
    advertise: values.advertise as string | undefined,
    token: values.token as string | undefined,
  };
}

async function runCoord(options: CoordOptions, io: CliIo): Promise<number> {
  // The nodes' MessageID codecs: broadcast results carry the ids their copies were appended at.
  await Promise.all([
    import('@walstream/adapter-kafka'),
    import('@walstream/adapter-pulsar'),
    import('@walstream/adapter-local'),
  ]);
  const running = await runCoordinator({
    etcd: { endpoints: options.etcd },
    prefix: options.prefix,
    listen: options.listen,
    pchannels: options.pchannels,
    policy: options.policy,
    sessionTtlSeconds: options.ttlSeconds,
    ...(options.candidate === undefined ? {} : { candidate: options.candidate }),
    ...(options.advertise === undefined ? {} : { advertise: options.advertise }),
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  io.out(
    `walstream coord: ${options.pchannels.length} pchannel(s), etcd ${options.etcd.join(',')} (prefix ${options.prefix}), election TTL ${options.ttlSeconds} s`,
  );
  const subscription = running.role$.subscribe((role) => {
    const active = running.active;
    if (role === 'active' && active) {
      io.out(
        `active: serving on ${active.server.address}${options.token === undefined ? '' : ' (token required)'}`,
      );
    } else if (role === 'standby') {
      io.out('standby: waiting for the active coordinator to go (serving nothing)');
    }
  });
  try {
    await stayUp(undefined, io.stop);
  } finally {
    io.out('resigning ...');
    await running.close();
    subscription.unsubscribe();
    io.out('closed');
  }
  return 0;
}
