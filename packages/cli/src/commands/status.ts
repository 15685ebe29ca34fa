import { LOGICAL_BITS } from '@walstream/core/internal';
import {
  CollectStatusRequestSchema,
  type CollectStatusResponse,
  connectRpc,
  create,
  type FullAssignment,
  WalLifetimeState,
} from '@walstream/rpc';
import { type CliIo, defineCommand, durationOption, type OptionValues } from '../command.js';
import { CLIENT_OPTIONS, type ConnectOptions, connectOptions, probe } from '../connect.js';
import { stayUp } from './up.js';

export interface StatusOptions extends ConnectOptions {
  readonly watch: boolean;
  readonly json: boolean;
  readonly intervalMs: number;
}

/** One pchannel as `status` shows it. */
export interface PChannelStatus {
  readonly name: string;
  readonly node: string;
  readonly term: string;
  /** The owner's WAL state: ready, recovering, ...; `unknown` when the node did not answer. */
  readonly state: string;
  readonly appendsInFlight: number | undefined;
  /** Milliseconds since the last timetick the WAL synced (its checkpoint), on the node's clock. */
  readonly syncedAgoMs: number | undefined;
}

export interface NodeStatus {
  readonly id: string;
  readonly address: string;
  readonly pchannels: number;
  /** Whether the node answered its status call. */
  readonly answered: boolean;
}

export interface ServiceStatus {
  readonly coordinator: string;
  readonly version: string;
  readonly pchannels: readonly PChannelStatus[];
  readonly nodes: readonly NodeStatus[];
}

export const status = defineCommand<StatusOptions>({
  name: 'status',
  summary: 'show the pchannels (node, term, state) and the nodes of a running service',
  description: `Asks the coordinator for its assignment and each node for the state of its WALs, and prints a table
that fits 80 columns: each pchannel's owner, term, WAL state, appends in flight and how long ago its
last timetick was synced; each node with its address and pchannel count.`,
  options: [
    { flags: '--watch', description: 'redraw every --interval until Ctrl-C' },
    { flags: '--json', description: 'print JSON instead (one object; with --watch one line per round)' },
    {
      flags: '--interval <duration>',
      description: 'time between rounds with --watch',
      default: 1_000,
      defaultText: '1s',
      parse: durationOption,
    },
    ...CLIENT_OPTIONS,
  ],
  resolve: (values: OptionValues): StatusOptions => ({
    ...connectOptions(values),
    watch: values.watch as boolean,
    json: values.json as boolean,
    intervalMs: values.interval as number,
  }),
  run: runStatus,
});

async function runStatus(options: StatusOptions, io: CliIo): Promise<number> {
  for (;;) {
    const current = await collect(options);
    if (options.json) {
      io.out(JSON.stringify(current, null, options.watch ? undefined : 2));
    } else {
      // On a terminal, each round replaces the previous one (cursor home, clear the screen).
      const clear = options.watch && io.progress ? '\x1b[H\x1b[2J' : '';
      const when = options.watch ? `  ${new Date().toISOString().slice(11, 19)}` : '';
      io.out(`${clear}${renderStatus(current, io.columns ?? 80, when)}`);
    }
    if (!options.watch) return 0;
    await stayUp(options.intervalMs, io.stop);
    if (io.stop?.aborted) return 0;
  }
}

/** The status of the service behind `options.coord`: the assignment, and each node's own report. */
export async function collect(options: ConnectOptions): Promise<ServiceStatus> {
  const assignment: FullAssignment = await probe(options);
  const reports = await Promise.all(
    assignment.assignments.map(async (entry) => {
      if (!entry.node) return undefined;
      const rpc = connectRpc(entry.node.address, options.token === undefined ? {} : { token: options.token });
      try {
        return await rpc.nodeManager.collectStatus(create(CollectStatusRequestSchema, {}), {
          signal: AbortSignal.timeout(Math.min(2_000, options.connectTimeoutMs)),
        });
      } catch {
        return undefined;
      } finally {
        rpc.close();
      }
    }),
  );
  const now = Date.now();
  const pchannels: PChannelStatus[] = [];
  const nodes: NodeStatus[] = [];
  assignment.assignments.forEach((entry, i) => {
    if (!entry.node) return;
    const report: CollectStatusResponse | undefined = reports[i];
    nodes.push({
      id: String(entry.node.nodeId),
      address: entry.node.address,
      pchannels: entry.channels.length,
      answered: report !== undefined,
    });
    for (const channel of entry.channels) {
      const wal = report?.wals.find(
        (w) => w.pchannel?.name === channel.name && w.pchannel.term === channel.term,
      );
      const synced = wal?.lastSyncedTimeTick;
      pchannels.push({
        name: channel.name,
        node: String(entry.node.nodeId),
        term: String(channel.term),
        state: wal ? stateName(wal.state) : report ? 'missing' : 'unknown',
        appendsInFlight: wal?.appendsInFlight,
        syncedAgoMs: synced ? Math.max(0, now - Number(synced >> LOGICAL_BITS)) : undefined,
      });
    }
  });
  pchannels.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  nodes.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  return {
    coordinator: options.coord.join(','),
    version: `${assignment.version?.global ?? 0n}.${assignment.version?.local ?? 0n}`,
    pchannels,
    nodes,
  };
}

function stateName(state: WalLifetimeState): string {
  const name = WalLifetimeState[state] ?? String(state);
  return name.replace(/^WAL_LIFETIME_STATE_/, '').toLowerCase();
}

/** The status as a table no wider than `columns` (at least 60). */
export function renderStatus(status: ServiceStatus, columns: number, suffix = ''): string {
  const width = Math.max(60, Math.min(columns, 120));
  const fit = (text: string, n: number): string => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
  // Fixed columns take 46 characters; the pchannel name gets the rest.
  const nameWidth = Math.max(12, width - 47);
  const lines = [
    fit(
      `coordinator ${status.coordinator}  ${status.pchannels.length} pchannel(s), ${status.nodes.length} node(s)${suffix}`,
      width,
    ),
    '',
    `${'PCHANNEL'.padEnd(nameWidth)} ${'NODE'.padStart(6)} ${'TERM'.padStart(6)} ${'STATE'.padEnd(11)} ${'INFLIGHT'.padStart(8)} ${'SYNCED'.padStart(10)}`,
    ...status.pchannels.map(
      (p) =>
        `${fit(p.name, nameWidth).padEnd(nameWidth)} ${fit(p.node, 6).padStart(6)} ${fit(p.term, 6).padStart(6)} ${fit(p.state, 11).padEnd(11)} ${String(p.appendsInFlight ?? '–').padStart(8)} ${ago(p.syncedAgoMs).padStart(10)}`,
    ),
    '',
    `${'NODE'.padStart(6)} ${'ADDRESS'.padEnd(width - 28)} ${'PCHANNELS'.padStart(9)} ${'STATUS'.padEnd(9)}`,
    ...status.nodes.map(
      (n) =>
        `${fit(n.id, 6).padStart(6)} ${fit(n.address, width - 28).padEnd(width - 28)} ${String(n.pchannels).padStart(9)} ${(n.answered ? 'ok' : 'no answer').padEnd(9)}`,
    ),
  ];
  return lines.map((line) => line.trimEnd()).join('\n');
}

function ago(ms: number | undefined): string {
  if (ms === undefined) return '–';
  if (ms < 1_000) return `${ms} ms ago`;
  return `${(ms / 1_000).toFixed(ms < 10_000 ? 1 : 0)} s ago`;
}
