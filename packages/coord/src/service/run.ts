import { createEtcdClient, EtcdCatalog, type EtcdClientOptions } from '@walstream/catalog-etcd';
import { type BalancePolicy, WalError } from '@walstream/core';
import { checkKnownKeys, delay, integerOption, stringOption } from '@walstream/core/internal';
import { noObservability, type Observability } from '@walstream/core/spi';
import type { RpcClientOptions, RpcServer, TlsServerOptions } from '@walstream/rpc';
import type { Etcd3 } from 'etcd3';
import { BehaviorSubject, type Observable } from 'rxjs';
import { etcdNodeMarks } from '../balancer/marks.js';
import { type Coordinator, type CoordinatorOptions, startCoordinator } from '../coordinator.js';
import { campaign, type Leadership } from '../election/etcd-election.js';
import { EtcdSessionDirectory } from '../sessions/etcd-sessions.js';
import { serveCoordinator } from './serve.js';

export interface RunCoordinatorOptions {
  /** etcd: its client URLs (a client is made and closed with the coordinator), or a client to share. */
  readonly etcd: EtcdClientOptions | Etcd3;
  /** Prefix of every key: catalog, sessions, election, marks. Default `walstream/`. */
  readonly prefix?: string;
  /** host:port the active coordinator serves on (port 0 picks one; see `active.server.address`). */
  readonly listen: string;
  readonly pchannels: readonly string[];
  /** A registered policy name, or a policy. Default `vchannelFair`. */
  readonly policy?: string | BalancePolicy;
  /**
   * TTL of the election lease in seconds: a standby takes over about this long after the active one
   * died. Default 10; etcd raises anything below 2 to 2.
   */
  readonly sessionTtlSeconds?: number;
  /** Written to the election key. Default `listen`. */
  readonly candidate?: string;
  /**
   * Where others reach this coordinator, published in etcd while it is active (`<prefix>coordinator/address`,
   * read by `CoordinatorTso`). Default: the address the server bound (give this when listening on
   * 0.0.0.0).
   */
  readonly advertise?: string;
  /** Bearer token callers of the coordinator must present; also sent to nodes unless `nodeRpc` says otherwise. */
  readonly token?: string;
  readonly tls?: TlsServerOptions;
  /** How the coordinator calls nodes (token, TLS). Default `{ token }`. */
  readonly nodeRpc?: RpcClientOptions;
  readonly balancer?: CoordinatorOptions['balancer'];
  readonly broadcaster?: CoordinatorOptions['broadcaster'];
  readonly tsoWindowMs?: number;
  readonly observability?: Observability;
}

/** The coordinator while this process is the active one. */
export interface ActiveCoordinator {
  readonly coordinator: Coordinator<EtcdSessionDirectory>;
  readonly server: RpcServer;
  readonly leadership: Leadership;
}

export type CoordinatorRole = 'standby' | 'active' | 'closed';

/** A coordinator process's part: standby or active, until closed. */
export interface RunningCoordinator extends AsyncDisposable {
  readonly role: CoordinatorRole;
  /** The role now and after every change; `standby` after a term is emitted once the server has closed. */
  readonly role$: Observable<CoordinatorRole>;
  /** The active part, while this process is active. */
  readonly active: ActiveCoordinator | undefined;
  /** Resolves once this process is active (at once when it is); ABORTED when `signal` fires or it closes. */
  whenActive(signal?: AbortSignal): Promise<ActiveCoordinator>;
  /** Stops: the active part (server, balancer, broadcaster) closes, then the leadership is resigned. */
  close(): Promise<void>;
}

const RETRY_MS = [100, 5_000] as const;

/**
 * Runs a coordinator for a deployment on etcd: campaigns for the active seat and, while it holds it, runs
 * `startCoordinator` on an `EtcdCatalog` and an `EtcdSessionDirectory` (nodes reached over gRPC at the
 * address in their session) with freeze and drain marks kept in etcd, and serves it (`serveCoordinator`)
 * on `listen`. A standby serves nothing: callers pass over its address. When the leadership ends — its
 * lease could not be kept alive — the active part stops at once (the server first) and the process
 * campaigns again; every pchannel save is a compare-and-swap, so a deposed coordinator that is still
 * closing cannot overwrite what the next one saved.
 *
 * The process must have the MessageID codec of the nodes' adapter registered (import the adapter package,
 * e.g. `import '@walstream/adapter-kafka'`): broadcast results carry the ids the copies were appended at,
 * and a result that cannot be decoded dead-letters its broadcast.
 */
export async function runCoordinator(options: RunCoordinatorOptions): Promise<RunningCoordinator> {
  const where = 'runCoordinator';
  checkKnownKeys(where, options, [
    'etcd',
    'prefix',
    'listen',
    'pchannels',
    'policy',
    'sessionTtlSeconds',
    'candidate',
    'advertise',
    'token',
    'tls',
    'nodeRpc',
    'balancer',
    'broadcaster',
    'tsoWindowMs',
    'observability',
  ]);
  const listen = stringOption(where, 'listen', options.listen, '', false);
  if (options.listen === undefined) {
    throw new WalError('INVALID_ARGUMENT', `${where}: option listen is required`, {
      retriable: false,
      details: { option: 'listen' },
    });
  }
  if (!Array.isArray(options.pchannels) || options.pchannels.length === 0) {
    throw new WalError('INVALID_ARGUMENT', `${where}: option pchannels must name at least one pchannel`, {
      retriable: false,
      details: { option: 'pchannels' },
    });
  }
  const ttl = integerOption(where, 'sessionTtlSeconds', options.sessionTtlSeconds, 10);
  const prefix = stringOption(where, 'prefix', options.prefix, 'walstream/');
  const candidate = stringOption(where, 'candidate', options.candidate, listen);
  if (options.advertise !== undefined) stringOption(where, 'advertise', options.advertise, '', false);
  const etcd = options.etcd;
  if (typeof etcd !== 'object' || etcd === null) {
    throw new WalError('INVALID_ARGUMENT', `${where}: option etcd must be { endpoints } or an etcd client`, {
      retriable: false,
      details: { option: 'etcd' },
    });
  }
  const ownsClient = typeof (etcd as Etcd3).lease !== 'function';
  const client = ownsClient ? createEtcdClient(etcd as EtcdClientOptions) : (etcd as Etcd3);
  const obs = (options.observability ?? noObservability).child({ component: 'coordinator', candidate });
  const nodeRpc = options.nodeRpc ?? (options.token === undefined ? {} : { token: options.token });

  const role = new BehaviorSubject<CoordinatorRole>('standby');
  const stop = new AbortController();
  let active: ActiveCoordinator | undefined;
  const activeWaiters = new Set<() => void>();

  /** One term as the active coordinator: from the won election to the end of the lease or close. */
  const serveTerm = async (leadership: Leadership): Promise<void> => {
    const ended = AbortSignal.any([leadership.signal, stop.signal]);
    let directory: EtcdSessionDirectory | undefined;
    let coordinator: Coordinator<EtcdSessionDirectory> | undefined;
    let server: RpcServer | undefined;
    try {
      directory = await EtcdSessionDirectory.open({
        client,
        prefix,
        rpc: nodeRpc,
        ...(options.observability ? { observability: options.observability } : {}),
      });
      coordinator = await startCoordinator({
        catalog: new EtcdCatalog({ client, prefix }),
        pchannels: options.pchannels,
        sessions: directory,
        marks: etcdNodeMarks({ client, prefix }),
        ...(options.policy === undefined ? {} : { policy: options.policy }),
        ...(options.balancer ? { balancer: options.balancer } : {}),
        ...(options.broadcaster ? { broadcaster: options.broadcaster } : {}),
        ...(options.tsoWindowMs === undefined ? {} : { tsoWindowMs: options.tsoWindowMs }),
        ...(options.observability ? { observability: options.observability } : {}),
      });
      if (!ended.aborted) {
        server = await serveCoordinator(coordinator, {
          listen,
          ...(options.token === undefined ? {} : { token: options.token }),
          ...(options.tls ? { tls: options.tls } : {}),
          ...(options.observability ? { observability: options.observability } : {}),
        });
      }
      if (!ended.aborted && server) {
        await leadership.publishAddress(options.advertise ?? server.address);
        active = { coordinator, server, leadership };
        role.next('active');
        obs.logger.info({ address: server.address }, `${candidate} is active and serves`);
        for (const wake of [...activeWaiters]) wake();
        await new Promise<void>((resolve) => {
          if (ended.aborted) resolve();
          ended.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    } finally {
      active = undefined;
      // The server first: no caller is answered by a coordinator that may no longer be the active one.
      await server?.close({ graceMs: 0 }).catch(() => {});
      if (!stop.signal.aborted && role.value !== 'standby') role.next('standby');
      await coordinator?.close().catch(() => {});
      await directory?.close().catch(() => {});
      if (leadership.signal.aborted && !stop.signal.aborted) {
        obs.logger.warn({ reason: String(leadership.signal.reason) }, `${candidate} lost the leadership`);
      }
      await leadership.resign().catch(() => {});
    }
  };

  const loop = (async () => {
    let failures = 0;
    while (!stop.signal.aborted) {
      try {
        const leadership = await campaign({
          client,
          candidate,
          prefix,
          ttlSeconds: ttl,
          signal: stop.signal,
          ...(options.observability ? { observability: options.observability } : {}),
        });
        await serveTerm(leadership);
        failures = 0;
      } catch (error) {
        if (stop.signal.aborted) break;
        obs.reportError({ component: 'coordinator', error, retrying: true });
        const [first, last] = RETRY_MS;
        await delay(Math.min(last, first * 2 ** Math.min(failures++, 16)), stop.signal).catch(() => {});
      }
    }
  })();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stop.abort(new WalError('ON_SHUTDOWN', `${candidate} is closing`, { retriable: false }));
      for (const wake of [...activeWaiters]) wake();
      await loop;
      role.next('closed');
      role.complete();
      if (ownsClient) client.close();
    })();
    return closing;
  };

  return {
    get role() {
      return role.value;
    },
    role$: role.asObservable(),
    get active() {
      return active;
    },
    async whenActive(signal?: AbortSignal): Promise<ActiveCoordinator> {
      for (;;) {
        if (active) return active;
        if (stop.signal.aborted || signal?.aborted) {
          throw new WalError('ABORTED', `${candidate}: stopped waiting to become active`, {
            retriable: false,
            cause: signal?.reason,
          });
        }
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            activeWaiters.delete(wake);
            signal?.removeEventListener('abort', wake);
            resolve();
          };
          activeWaiters.add(wake);
          signal?.addEventListener('abort', wake, { once: true });
        });
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
