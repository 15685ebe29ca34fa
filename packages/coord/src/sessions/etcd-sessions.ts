import { etcdError } from '@walstream/catalog-etcd';
import { WalError } from '@walstream/core';
import { checkKnownKeys, functionOption, integerOption, stringOption } from '@walstream/core/internal';
import { noObservability, type Observability } from '@walstream/core/spi';
import { connectRpc, type RpcChannel, type RpcClientOptions } from '@walstream/rpc';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { BehaviorSubject, type Observable } from 'rxjs';
import type { SessionDirectory } from '../nodes/in-process-sessions.js';
import type { NodeManagerClient, NodeSession } from '../nodes/node-client.js';
import { RpcNodeManagerClient } from '../nodes/rpc-node-client.js';
import { compareNodeIds } from '../policy/order.js';
import { KeptLease } from './lease.js';

/** Milvus's session TTL; etcd with default settings raises anything below 2 s to 2 s. */
export const DEFAULT_SESSION_TTL_SECONDS = 10;
const DEFAULT_PREFIX = 'walstream/';
/** A node-id allocation that loses this many compare-and-swaps in a row gives up (retriable). */
const MAX_ID_ATTEMPTS = 100;

/** What a node's session key holds. */
interface SessionRecord {
  readonly nodeId: string;
  readonly address?: string;
  readonly stopping: boolean;
}

function sessionKeys(prefix: string | undefined): {
  nextId: string;
  nodes: string;
  node(id: string): string;
} {
  let p = prefix ?? DEFAULT_PREFIX;
  if (!p.endsWith('/')) p += '/';
  return {
    nextId: `${p}sessions/next-node-id`,
    nodes: `${p}sessions/nodes/`,
    node: (id) => `${p}sessions/nodes/${id}`,
  };
}

function checkClient(where: string, client: unknown): Etcd3 {
  if (typeof client !== 'object' || client === null || typeof (client as Etcd3).lease !== 'function') {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: option client must be an etcd client (createEtcdClient)`,
      {
        retriable: false,
        details: { option: 'client' },
      },
    );
  }
  return client as Etcd3;
}

export interface EtcdNodeSessionOptions {
  /** The node's etcd client, from `createEtcdClient` of @walstream/catalog-etcd. The session does not close it. */
  readonly client: Etcd3;
  /** Prefix of the session keys; the same as the catalog's. Default `walstream/`. */
  readonly prefix?: string;
  /** Where clients and the coordinator reach the node. */
  readonly address?: string;
  /**
   * The node's id, taken earlier with {@link EtcdNodeSession.allocateNodeId} (a node that must know its id
   * before it serves). Default: a new id from the counter.
   */
  readonly nodeId?: bigint;
  /**
   * Seconds etcd keeps the session after the node's last keepalive. Default 10. etcd 3.4 with its default
   * timing raises anything below 2 to 2 (see docs/coord.md); `grantedTtlSeconds` tells what etcd applied.
   */
  readonly ttlSeconds?: number;
  readonly observability?: Observability;
}

/**
 * A node's session in etcd: a key under a lease the node keeps alive. The node id comes from a counter in
 * etcd raised by compare-and-swap, so no two registrations ever get the same id — a node that registers
 * again, after a crash or a restart, is a new node to the coordinator.
 */
export class EtcdNodeSession implements AsyncDisposable {
  readonly nodeId: string;
  readonly address: string | undefined;
  readonly #client: Etcd3;
  readonly #key: string;
  readonly #lease: KeptLease;
  #stopping = false;
  #stopped: Promise<void> | undefined;

  private constructor(client: Etcd3, key: string, record: SessionRecord, lease: KeptLease) {
    this.#client = client;
    this.#key = key;
    this.nodeId = record.nodeId;
    this.address = record.address;
    this.#lease = lease;
  }

  /** Allocates a node id, grants the lease and writes the session key under it. */
  static async register(options: EtcdNodeSessionOptions): Promise<EtcdNodeSession> {
    const where = 'EtcdNodeSession.register';
    checkKnownKeys(where, options, ['client', 'prefix', 'address', 'nodeId', 'ttlSeconds', 'observability']);
    const client = checkClient(where, options.client);
    const ttl = integerOption(where, 'ttlSeconds', options.ttlSeconds, DEFAULT_SESSION_TTL_SECONDS);
    const address =
      options.address === undefined ? undefined : stringOption(where, 'address', options.address, '', false);
    const keys = sessionKeys(stringOption(where, 'prefix', options.prefix, DEFAULT_PREFIX));
    if (options.nodeId !== undefined && (typeof options.nodeId !== 'bigint' || options.nodeId < 1n)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `${where}: option nodeId must be a bigint ≥ 1 from allocateNodeId`,
        {
          retriable: false,
          details: { option: 'nodeId' },
        },
      );
    }
    const nodeId = (options.nodeId ?? (await allocateNodeId(client, keys.nextId))).toString();
    const obs = (options.observability ?? noObservability).child({ component: 'session', nodeId });
    const lease = await KeptLease.grant(client, ttl, `session of node ${nodeId}`, obs);
    const record: SessionRecord = { nodeId, stopping: false, ...(address === undefined ? {} : { address }) };
    const key = keys.node(nodeId);
    try {
      await lease.lease.put(key).value(JSON.stringify(record)).exec();
    } catch (error) {
      await lease.revoke().catch(() => {});
      throw etcdError(error, `register session ${key}`);
    }
    obs.logger.info({ lease: lease.id, ttl: lease.grantedTtlSeconds }, `node ${nodeId} registered`);
    return new EtcdNodeSession(client, key, record, lease);
  }

  /**
   * Takes a node id from the counter without registering: for a node that must serve (and so know its
   * id) before its session is written. Each call hands out an id no call ever handed out before.
   */
  static allocateNodeId(options: { client: Etcd3; prefix?: string }): Promise<bigint> {
    const where = 'EtcdNodeSession.allocateNodeId';
    checkKnownKeys(where, options, ['client', 'prefix']);
    const client = checkClient(where, options.client);
    return allocateNodeId(
      client,
      sessionKeys(stringOption(where, 'prefix', options.prefix, DEFAULT_PREFIX)).nextId,
    );
  }

  /** The TTL etcd applied to the session's lease, in seconds. */
  get grantedTtlSeconds(): number {
    return this.#lease.grantedTtlSeconds;
  }

  /**
   * Aborted when the session ended: stopped, or lost because no keepalive got through within the TTL (the
   * reason is an UNAVAILABLE WalError then). A node whose session is lost has been given up by the
   * coordinator and must not go on serving its channels.
   */
  get signal(): AbortSignal {
    return this.#lease.signal;
  }

  /** Announces a graceful stop: the session stays, marked `stopping`, while the coordinator moves channels away. */
  async markStopping(): Promise<void> {
    if (this.#lease.signal.aborted) {
      throw new WalError('ON_SHUTDOWN', `node ${this.nodeId}: the session has ended`, { retriable: false });
    }
    if (this.#stopping) return;
    const record: SessionRecord = {
      nodeId: this.nodeId,
      stopping: true,
      ...(this.address === undefined ? {} : { address: this.address }),
    };
    try {
      // Only while the key is still there: a put on an ended lease would fail anyway, and an absent key
      // must not come back.
      const result = await this.#client
        .if(this.#key, 'Create', '>', 0)
        .then(this.#lease.lease.put(this.#key).value(JSON.stringify(record)))
        .commit();
      if (!result.succeeded) {
        throw new WalError('ON_SHUTDOWN', `node ${this.nodeId}: the session key is gone`, {
          retriable: false,
        });
      }
    } catch (error) {
      throw etcdError(error, `mark session ${this.#key} stopping`);
    }
    this.#stopping = true;
  }

  /**
   * Marks the session stopping (when it is not yet), then revokes its lease so it ends now. Rejects when
   * the mark or the revoke failed; the session ends anyway, at the latest after its TTL.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      let marking: unknown;
      if (!this.#lease.signal.aborted && !this.#stopping) {
        // A failed mark does not keep the node registered: the session ends either way.
        await this.markStopping().catch((error: unknown) => {
          marking = error;
        });
      }
      if (!this.#lease.signal.aborted) await this.#lease.revoke();
      if (marking !== undefined) throw marking;
    })();
    return this.#stopped;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** The next node id: the counter's value (1 when absent), raised by one in the same compare-and-swap. */
async function allocateNodeId(client: Etcd3, key: string): Promise<bigint> {
  for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
    let current: { value: bigint; revision: string };
    try {
      const got = await client.get(key).exec();
      const kv = got.kvs[0];
      current = kv
        ? { value: BigInt(kv.value.toString()), revision: kv.mod_revision }
        : { value: 1n, revision: '0' };
      const swapped = await client
        .if(key, 'Mod', '==', current.revision)
        .then(client.put(key).value((current.value + 1n).toString()))
        .commit();
      if (swapped.succeeded) return current.value;
    } catch (error) {
      // A swap whose answer was lost may have landed: the id it took is skipped, never handed out twice.
      throw etcdError(error, `allocate node id ${key}`);
    }
  }
  throw new WalError(
    'UNAVAILABLE',
    `allocate node id ${key}: lost ${MAX_ID_ATTEMPTS} compare-and-swaps in a row`,
    {
      retriable: true,
    },
  );
}

export interface EtcdSessionDirectoryOptions {
  /** The coordinator's etcd client (`createEtcdClient`). The directory does not close it. */
  readonly client: Etcd3;
  /** Prefix of the session keys; the nodes' one. Default `walstream/`. */
  readonly prefix?: string;
  /**
   * The client the coordinator calls a node with, made once per session. Default: an
   * `RpcNodeManagerClient` on a gRPC channel to the address the node published (with `rpc`), closed when
   * the session ends; a node that published none answers every call UNAVAILABLE.
   */
  readonly connect?: (node: { readonly nodeId: string; readonly address?: string }) => NodeManagerClient;
  /** Called with a node's client once its session ended (or the directory closed), to release it. */
  readonly disconnect?: (client: NodeManagerClient, node: { readonly nodeId: string }) => void;
  /** Token and TLS of the default connection to nodes. */
  readonly rpc?: RpcClientOptions;
  readonly observability?: Observability;
}

/**
 * Nodes over gRPC: one channel per session to the address the node published, closed (with the
 * producer streams the broadcaster opened on it) when the session ends.
 */
function rpcNodeConnector(rpc: RpcClientOptions): {
  connect: NonNullable<EtcdSessionDirectoryOptions['connect']>;
  disconnect: NonNullable<EtcdSessionDirectoryOptions['disconnect']>;
} {
  const channels = new Map<NodeManagerClient, RpcChannel>();
  return {
    connect({ nodeId, address }) {
      if (address === undefined || address === '') return unreachable(nodeId);
      let channel: RpcChannel;
      try {
        channel = connectRpc(address, rpc);
      } catch {
        return unreachable(nodeId, address);
      }
      const client = new RpcNodeManagerClient(channel);
      channels.set(client, channel);
      return client;
    },
    disconnect(client) {
      const channel = channels.get(client);
      if (!channel) return;
      channels.delete(client);
      (client as RpcNodeManagerClient).close();
      channel.close();
    },
  };
}

/** A node the coordinator cannot call: every call is UNAVAILABLE, so the balancer finds it unhealthy. */
function unreachable(nodeId: string, address?: string): NodeManagerClient {
  const fail = (): Promise<never> =>
    Promise.reject(
      new WalError(
        'UNAVAILABLE',
        address === undefined
          ? `node ${nodeId} published no address in its session`
          : `node ${nodeId} published an address that is not host:port: ${JSON.stringify(address)}`,
        { retriable: true, details: { nodeId } },
      ),
    );
  return { assign: fail, remove: fail, collectStatus: fail };
}

/** Wait before listing again after the watch failed: doubling from the first to the last. */
const RESYNC_BACKOFF_MS = [50, 5_000] as const;

/**
 * The coordinator's view of the node sessions in etcd: one listing, then a watch from the revision after
 * it, so no change is missed or seen twice. The etcd client resumes a watch across reconnects by itself;
 * when etcd cancels it (its start revision was compacted away, say) the directory lists again and
 * replaces what it knew, which drops every session that ended meanwhile. `sessions$` has the shape the
 * balancer takes from `InProcessSessions`.
 */
export class EtcdSessionDirectory implements SessionDirectory, AsyncDisposable {
  readonly #subject = new BehaviorSubject<readonly NodeSession[]>([]);
  readonly sessions$: Observable<readonly NodeSession[]> = this.#subject.asObservable();
  readonly #sessions = new Map<string, NodeSession>();
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #connect: NonNullable<EtcdSessionDirectoryOptions['connect']>;
  readonly #disconnect: EtcdSessionDirectoryOptions['disconnect'];
  readonly #obs: Observability;
  #watcher: Watcher | undefined;
  #resync: ReturnType<typeof setTimeout> | undefined;
  #resyncs = 0;
  #closed = false;

  private constructor(
    client: Etcd3,
    prefix: string,
    connect: NonNullable<EtcdSessionDirectoryOptions['connect']>,
    disconnect: EtcdSessionDirectoryOptions['disconnect'],
    obs: Observability,
  ) {
    this.#client = client;
    this.#prefix = prefix;
    this.#connect = connect;
    this.#disconnect = disconnect;
    this.#obs = obs;
  }

  static async open(options: EtcdSessionDirectoryOptions): Promise<EtcdSessionDirectory> {
    const where = 'EtcdSessionDirectory.open';
    checkKnownKeys(where, options, ['client', 'prefix', 'connect', 'disconnect', 'rpc', 'observability']);
    const client = checkClient(where, options.client);
    let connect = functionOption<NonNullable<EtcdSessionDirectoryOptions['connect']>>(
      where,
      'connect',
      options.connect,
    );
    let disconnect = functionOption<NonNullable<EtcdSessionDirectoryOptions['disconnect']>>(
      where,
      'disconnect',
      options.disconnect,
    );
    if (!connect) {
      if (disconnect) {
        throw new WalError('INVALID_ARGUMENT', `${where}: option disconnect needs option connect`, {
          retriable: false,
          details: { option: 'disconnect' },
        });
      }
      ({ connect, disconnect } = rpcNodeConnector(options.rpc ?? {}));
    } else if (options.rpc !== undefined) {
      throw new WalError('INVALID_ARGUMENT', `${where}: option rpc applies to the default connect only`, {
        retriable: false,
        details: { option: 'rpc' },
      });
    }
    const keys = sessionKeys(stringOption(where, 'prefix', options.prefix, DEFAULT_PREFIX));
    const obs = (options.observability ?? noObservability).child({ component: 'sessions' });
    const directory = new EtcdSessionDirectory(client, keys.nodes, connect, disconnect, obs);
    await directory.#sync();
    return directory;
  }

  /** The live sessions now. */
  get sessions(): readonly NodeSession[] {
    return this.#subject.value;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#resync);
    await this.#watcher?.cancel().catch(() => {});
    for (const session of this.#sessions.values()) this.#release(session);
    this.#sessions.clear();
    this.#subject.complete();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Lists the sessions, replaces what was known with them, and watches from the revision after. */
  async #sync(): Promise<void> {
    const previous = this.#watcher;
    this.#watcher = undefined;
    await previous?.cancel().catch(() => {});
    let watcher: Watcher;
    try {
      const listed = await this.#client.getAll().prefix(this.#prefix).exec();
      if (this.#closed) return;
      const seen = new Set<string>();
      for (const kv of listed.kvs) seen.add(this.#apply('put', kv, false) ?? '');
      for (const [nodeId, session] of [...this.#sessions]) {
        if (!seen.has(nodeId)) {
          this.#sessions.delete(nodeId);
          this.#release(session);
        }
      }
      this.#publish();
      watcher = await this.#client
        .watch()
        .prefix(this.#prefix)
        .startRevision((BigInt(listed.header.revision) + 1n).toString())
        .create();
    } catch (error) {
      throw etcdError(error, `list sessions ${this.#prefix}`);
    }
    if (this.#closed) {
      await watcher.cancel().catch(() => {});
      return;
    }
    this.#watcher = watcher;
    watcher.on('put', (kv) => this.#apply('put', kv));
    watcher.on('delete', (kv) => this.#apply('delete', kv));
    watcher.on('error', (error) => {
      if (this.#watcher !== watcher) return;
      this.#obs.reportError({
        component: 'sessions',
        error: etcdError(error, 'watch sessions'),
        retrying: true,
      });
      this.#scheduleResync();
    });
  }

  #scheduleResync(): void {
    if (this.#closed) return;
    const [first, last] = RESYNC_BACKOFF_MS;
    const wait = Math.min(last, first * 2 ** Math.min(this.#resyncs++, 16));
    clearTimeout(this.#resync);
    this.#resync = setTimeout(() => {
      this.#sync().then(
        () => {
          this.#resyncs = 0;
        },
        (error: unknown) => {
          this.#obs.reportError({ component: 'sessions', error, retrying: true });
          this.#scheduleResync();
        },
      );
    }, wait);
    this.#resync.unref?.();
  }

  #release(session: NodeSession): void {
    try {
      this.#disconnect?.(session.client, { nodeId: session.nodeId });
    } catch (error) {
      this.#obs.reportError({ component: 'sessions', error, retrying: false });
    }
  }

  /** Applies one change; returns the node id of a put that was understood. */
  #apply(kind: 'put' | 'delete', kv: IKeyValue, publish = true): string | undefined {
    if (this.#closed) return undefined;
    const nodeId = kv.key.toString().slice(this.#prefix.length);
    if (kind === 'delete') {
      const session = this.#sessions.get(nodeId);
      if (session) {
        this.#sessions.delete(nodeId);
        this.#obs.logger.info({ nodeId }, `node ${nodeId}'s session ended`);
        this.#release(session);
        if (publish) this.#publish();
      }
      return undefined;
    }
    let record: SessionRecord;
    try {
      record = JSON.parse(kv.value.toString()) as SessionRecord;
    } catch (error) {
      this.#obs.reportError({
        component: 'sessions',
        error: new WalError('UNKNOWN', `session ${kv.key.toString()} is not JSON`, {
          cause: error,
          retriable: false,
        }),
        retrying: false,
      });
      return undefined;
    }
    const known = this.#sessions.get(nodeId);
    this.#sessions.set(nodeId, {
      nodeId,
      stopping: record.stopping === true,
      client:
        known?.client ??
        this.#connect({ nodeId, ...(record.address === undefined ? {} : { address: record.address }) }),
      ...(record.address === undefined ? {} : { address: record.address }),
    });
    if (publish) this.#publish();
    return nodeId;
  }

  #publish(): void {
    if (this.#closed) return;
    this.#subject.next([...this.#sessions.values()].sort((a, b) => compareNodeIds(a.nodeId, b.nodeId)));
  }
}
