/**
 * A coordinator process on etcd (`runCoordinator`), for the cross-process failover tests and
 * `pnpm campaign:failover`:
 *
 *   TSX_TSCONFIG_PATH=tsconfig.tests.json node --import tsx \
 *     packages/coord/test/support/coord-process.ts '<CoordConfig JSON>'
 *
 * Prints JSON lines: `{"role": "standby"|"active"|"closed", "address"?}` at each change, and while active
 * `{"move": {...}}` for every move step and `{"broadcast": {...}}` for every broadcast task change. Stdin
 * commands: `{"cmd":"drain","nodeId":"3"}` answers `{"drained":"3","ms":...}`; `{"cmd":"close"}` resigns
 * and exits 0. SIGKILL is the crash the tests want.
 */
import { createInterface } from 'node:readline';
// The nodes' MessageID codec: the coordinator decodes the ids its broadcast copies were appended at.
import '@walstream/adapter-kafka';
import { runCoordinator } from '@walstream/coord';

export interface CoordConfig {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly pchannels: readonly string[];
  readonly ttlSeconds: number;
  readonly candidate: string;
  readonly minMoveIntervalMs?: number;
  /** false: the active coordinator suspends balance moves at once (`setRebalance(false)`). */
  readonly rebalance?: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as CoordConfig;
const out = (line: unknown): void => {
  process.stdout.write(
    `${JSON.stringify(line, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );
};
const running = await runCoordinator({
  etcd: { endpoints: config.endpoints },
  prefix: config.prefix,
  listen: '127.0.0.1:0',
  pchannels: config.pchannels,
  policy: 'pchannelCount',
  sessionTtlSeconds: config.ttlSeconds,
  candidate: config.candidate,
  balancer: {
    minMoveIntervalMs: config.minMoveIntervalMs ?? 0,
    operationTimeoutMs: 10_000,
    statusTimeoutMs: 1_000,
    backoff: { initialMs: 20, maxMs: 500 },
  },
  broadcaster: { backoff: { initialMs: 20, maxMs: 500 } },
});
running.role$.subscribe((role) => {
  const active = running.active;
  out({ role, ...(role === 'active' && active ? { address: active.server.address } : {}) });
  if (role === 'active' && active) {
    if (config.rebalance === false) void active.coordinator.balancer.setRebalance(false);
    active.coordinator.moves$.subscribe((move) =>
      out({
        move: {
          outcome: move.outcome,
          pchannel: move.pchannel,
          reason: move.reason,
          from: move.from,
          to: move.to,
          term: move.term,
          at: Date.now(),
        },
      }),
    );
    active.coordinator.broadcaster.tasks$.subscribe((tasks) =>
      out({
        broadcast: tasks.map((t) => ({
          id: t.broadcastId,
          state: t.state,
          appended: t.appended.length,
          acked: t.acked.length,
          ...(t.error ? { error: `${t.error.code}: ${t.error.message}` } : {}),
        })),
      }),
    );
  }
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as { cmd: string; nodeId?: string };
  if (command.cmd === 'drain' && command.nodeId) {
    const started = Date.now();
    const active = running.active;
    if (!active) return out({ error: 'not active' });
    active.coordinator.balancer.drain(command.nodeId, AbortSignal.timeout(60_000)).then(
      () => out({ drained: command.nodeId, ms: Date.now() - started }),
      (error: unknown) => out({ error: String(error) }),
    );
  } else if (command.cmd === 'close') {
    void running.close().then(() => process.exit(0));
  }
});
