import type {
  BroadcastTaskRecord,
  Catalog,
  ObservabilityOptions,
  PChannelMeta,
  WalCheckpoint,
} from '@walstream/core';
import { checkKnownKeys, integerOption, walError } from '@walstream/core/internal';
import { createObservability, type Observability } from '@walstream/core/spi';
import type { Etcd3, IKeyValue, ITxnResponse } from 'etcd3';
import { createEtcdClient, type EtcdClientOptions } from './client.js';
import {
  decodeBroadcast,
  decodeCheckpoint,
  decodeHighWater,
  decodePChannel,
  encodeBroadcast,
  encodeCheckpoint,
  encodeHighWater,
  encodePChannel,
} from './codec.js';
import { etcdError } from './errors.js';
import { type CatalogKeys, catalogKeys } from './keys.js';

export interface EtcdCatalogOptions extends Partial<EtcdClientOptions> {
  /**
   * A client to use instead of making one from `endpoints` (one from {@link createEtcdClient}, shared
   * with other users of the same etcd). The catalog does not close a client it was given.
   */
  readonly client?: Etcd3;
  /** Every key of the catalog starts with it. Default `walstream/`; a missing trailing `/` is added. */
  readonly prefix?: string;
  /**
   * Most pchannel metas one transaction writes. Default 128, etcd's default `--max-txn-ops`; a larger
   * `savePChannels` is split into transactions of this size (each one compare-and-swap on its own).
   */
  readonly maxTxnOps?: number;
  /** Logs (conflicts, at debug) go through it. Default: silent. */
  readonly observability?: ObservabilityOptions;
}

const OPTION_KEYS = [
  'endpoints',
  'callTimeoutMs',
  'dialTimeoutMs',
  'auth',
  'tls',
  'client',
  'prefix',
  'maxTxnOps',
  'observability',
] as const;
const CLIENT_OPTION_KEYS = ['endpoints', 'callTimeoutMs', 'dialTimeoutMs', 'auth', 'tls'] as const;
const DEFAULT_PREFIX = 'walstream/';
const DEFAULT_MAX_TXN_OPS = 128;
/** A compare-and-swap that loses this many times in a row gives up with UNAVAILABLE (retriable). */
const MAX_CAS_ATTEMPTS = 1_000;

/** What this catalog last saw of a key: its mod revision (0: absent) and the value that matters. */
interface Seen<T> {
  readonly revision: string;
  readonly value: T;
}

const ABSENT = '0';

/** The later of two sightings of a key (answers to calls in flight together can arrive in any order). */
function newer<T>(known: Seen<T> | undefined, seen: Seen<T>): Seen<T> {
  return known === undefined || BigInt(seen.revision) >= BigInt(known.revision) ? seen : known;
}

/**
 * The walstream {@link Catalog} on etcd, for nodes and coordinators in different processes.
 *
 * Every write that must not be lost to a race is one etcd transaction that compares the key's mod
 * revision with the one the catalog last saw and writes only when it is unchanged:
 * - `saveCheckpoint` reads the stored term from the revision it compares against, so a save of a lower
 *   term resolves false and writes nothing, however many writers race; a lost compare is retried with
 *   the value etcd returned in the same round trip;
 * - `saveTimestampHighWater` raises the mark the same way and never lowers it;
 * - `savePChannels` writes only when no pchannel it names changed since this catalog listed or saved
 *   it: of two coordinators acting on the same state, the second one's save is refused with
 *   CHANNEL_FENCED (not retriable: list again and decide again).
 * Broadcast tasks belong to the one active coordinator and are plain puts and deletes.
 *
 * etcd unreachable or slow → UNAVAILABLE (retriable); a stored value that is not the documented JSON →
 * UNRECOVERABLE naming the key; a call after `close()` → CLOSED.
 */
export class EtcdCatalog implements Catalog, AsyncDisposable {
  /** The etcd client, for what else runs on the same etcd (sessions, elections) under `prefix`. */
  readonly client: Etcd3;
  /** The key prefix, ending in `/`. */
  readonly prefix: string;
  readonly #keys: CatalogKeys;
  readonly #ownsClient: boolean;
  readonly #maxTxnOps: number;
  readonly #observability: Observability;
  readonly #pchannels = new Map<string, string>();
  readonly #checkpoints = new Map<string, Seen<bigint>>();
  #highWater: Seen<bigint> = { revision: ABSENT, value: 0n };
  #pchannelSaves: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: EtcdCatalogOptions) {
    checkKnownKeys('EtcdCatalog', options, OPTION_KEYS);
    if (options === undefined || (options.client === undefined && options.endpoints === undefined)) {
      throw walError('INVALID_ARGUMENT', 'EtcdCatalog: give either endpoints or a client', {
        retriable: false,
      });
    }
    // Connection options beside a client would be silently ignored: the client was made with its own.
    const beside = CLIENT_OPTION_KEYS.filter(
      (key) => options.client !== undefined && options[key] !== undefined,
    );
    if (beside.length > 0) {
      throw walError(
        'INVALID_ARGUMENT',
        `EtcdCatalog: ${beside.join(', ')} cannot be given with a client (the client has its own)`,
        { retriable: false, details: { option: beside[0]! } },
      );
    }
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    if (typeof prefix !== 'string') {
      throw walError('INVALID_ARGUMENT', 'EtcdCatalog: prefix must be a string', {
        retriable: false,
        details: { option: 'prefix' },
      });
    }
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.#keys = catalogKeys(this.prefix);
    this.#maxTxnOps = integerOption('EtcdCatalog', 'maxTxnOps', options.maxTxnOps, DEFAULT_MAX_TXN_OPS);
    this.#observability = createObservability(options.observability).child({ component: 'etcd-catalog' });
    if (options.client) {
      this.client = options.client;
      this.#ownsClient = false;
    } else {
      const {
        client: _client,
        prefix: _prefix,
        maxTxnOps: _ops,
        observability: _obs,
        ...clientOptions
      } = options;
      this.client = createEtcdClient(clientOptions as EtcdClientOptions);
      this.#ownsClient = true;
    }
  }

  async listPChannels(): Promise<PChannelMeta[]> {
    const kvs = await this.#range(this.#keys.pchannels, 'list pchannels');
    const metas = kvs.map((kv) => {
      const key = kv.key.toString('utf8');
      const meta = decodePChannel(key, kv.value);
      this.#sawPChannel(meta.channel.name, kv.mod_revision);
      return meta;
    });
    return metas.sort((a, b) => a.channel.name.localeCompare(b.channel.name));
  }

  savePChannels(metas: readonly PChannelMeta[]): Promise<void> {
    // One record per name, the last given winning (etcd refuses a transaction that puts a key twice).
    const byName = new Map<string, string>();
    for (const meta of metas) byName.set(meta.channel.name, encodePChannel(meta));
    const entries = [...byName];
    // One save at a time: two saves of this catalog in flight together would compare against the same
    // revision, and the second would be refused as if another coordinator had written.
    const save = this.#pchannelSaves.then(async () => {
      for (let start = 0; start < entries.length; start += this.#maxTxnOps) {
        await this.#savePChannelBatch(entries.slice(start, start + this.#maxTxnOps));
      }
    });
    this.#pchannelSaves = save.catch(() => undefined);
    return save;
  }

  /**
   * Mod revisions of one key only grow (the catalog deletes no pchannel): an answer that arrives late
   * with an older revision must not replace a newer one.
   */
  #sawPChannel(name: string, revision: string): void {
    const known = this.#pchannels.get(name);
    if (known === undefined || BigInt(revision) > BigInt(known)) this.#pchannels.set(name, revision);
  }

  async #savePChannelBatch(entries: readonly (readonly [string, string])[]): Promise<void> {
    if (entries.length === 0) return;
    const what = `save pchannels ${entries.map(([name]) => name).join(', ')}`;
    const response = await this.#call(what, () => {
      let txn: ReturnType<Etcd3['if']> | undefined;
      for (const [name] of entries) {
        const key = this.#keys.pchannel(name);
        const revision = this.#pchannels.get(name) ?? ABSENT;
        txn = txn ? txn.and(key, 'Mod', '==', revision) : this.client.if(key, 'Mod', '==', revision);
      }
      return txn!
        .then(...entries.map(([name, value]) => this.client.put(this.#keys.pchannel(name)).value(value)))
        .else(...entries.map(([name]) => this.client.get(this.#keys.pchannel(name))))
        .commit();
    });
    if (response.succeeded) {
      for (const [name] of entries) this.#sawPChannel(name, response.header.revision);
      return;
    }
    // Refused. When etcd already holds exactly these records, an earlier attempt of this save landed and
    // only its answer was lost (or another coordinator wrote the same): the save has its effect.
    const current = response.responses.map((op) => op.response_range?.kvs?.[0]);
    const conflicts = entries.filter(([, value], i) => current[i]?.value.toString('utf8') !== value);
    if (conflicts.length === 0) {
      for (const [i, [name]] of entries.entries()) this.#sawPChannel(name, current[i]!.mod_revision);
      return;
    }
    const [name] = conflicts[0]!;
    this.#observability.logger.debug({ pchannels: conflicts.map(([n]) => n) }, 'pchannel save refused');
    throw walError(
      'CHANNEL_FENCED',
      `the meta of pchannel ${name} changed in etcd since this catalog last read it (another coordinator ` +
        'wrote it): list the pchannels again before deciding',
      { retriable: false, details: { pchannel: name, key: this.#keys.pchannel(name) } },
    );
  }

  async listBroadcastTasks(): Promise<BroadcastTaskRecord[]> {
    const kvs = await this.#range(this.#keys.broadcasts, 'list broadcast tasks');
    return kvs
      .map((kv) => decodeBroadcast(kv.key.toString('utf8'), kv.value))
      .sort((a, b) => (a.broadcastId < b.broadcastId ? -1 : a.broadcastId > b.broadcastId ? 1 : 0));
  }

  async saveBroadcastTask(task: BroadcastTaskRecord): Promise<void> {
    const key = this.#keys.broadcast(task.broadcastId);
    const value = encodeBroadcast(task);
    await this.#call(`save broadcast task ${key}`, () => this.client.put(key).value(value).exec());
  }

  async removeBroadcastTask(broadcastId: bigint): Promise<void> {
    const key = this.#keys.broadcast(broadcastId);
    await this.#call(`remove broadcast task ${key}`, () => this.client.delete().key(key).exec());
  }

  async getCheckpoint(pchannel: string): Promise<WalCheckpoint | undefined> {
    const key = this.#keys.checkpoint(pchannel);
    const response = await this.#call(`get checkpoint ${key}`, () => this.client.get(key).exec());
    const kv = response.kvs[0];
    if (!kv) return undefined;
    const checkpoint = decodeCheckpoint(key, kv.value);
    this.#checkpoints.set(
      pchannel,
      newer(this.#checkpoints.get(pchannel), { revision: kv.mod_revision, value: checkpoint.term ?? 0n }),
    );
    return checkpoint;
  }

  async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    const key = this.#keys.checkpoint(pchannel);
    const value = encodeCheckpoint(pchannel, checkpoint);
    const term = checkpoint.term ?? 0n;
    return this.#compareAndSwap<bigint, boolean>({
      what: `save checkpoint ${key}`,
      key,
      absent: 0n,
      seen: () => this.#checkpoints.get(pchannel) ?? { revision: ABSENT, value: 0n },
      remember: (seen) => this.#checkpoints.set(pchannel, newer(this.#checkpoints.get(pchannel), seen)),
      decode: (kv) => decodeCheckpoint(key, kv.value).term ?? 0n,
      // A stored term only ever rises, so one seen above ours still is: refuse without asking etcd.
      decide: (stored) => (stored > term ? { result: false } : { write: value, value: term, result: true }),
    });
  }

  async getTimestampHighWater(): Promise<bigint> {
    const key = this.#keys.highWater;
    const response = await this.#call(`get timestamp high-water ${key}`, () => this.client.get(key).exec());
    const kv = response.kvs[0];
    if (!kv) return 0n;
    const value = decodeHighWater(key, kv.value);
    this.#highWater = newer(this.#highWater, { revision: kv.mod_revision, value });
    return value;
  }

  async saveTimestampHighWater(value: bigint): Promise<void> {
    const key = this.#keys.highWater;
    const encoded = encodeHighWater(value);
    await this.#compareAndSwap<bigint, void>({
      what: `save timestamp high-water ${key}`,
      key,
      absent: 0n,
      seen: () => this.#highWater,
      remember: (seen) => {
        this.#highWater = newer(this.#highWater, seen);
      },
      decode: (kv) => decodeHighWater(key, kv.value),
      decide: (stored) =>
        stored >= value ? { result: undefined } : { write: encoded, value, result: undefined },
    });
  }

  /** Closes the client when the catalog made it. Later calls reject with CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * One key's compare-and-swap loop: decide from the value last seen at a revision, write only if the
   * key still has that revision, else decide again from the value etcd returned in the same
   * transaction. Every round trip is one transaction; a loop ends when a write lands or `decide` says no
   * write is needed.
   */
  async #compareAndSwap<T, R>(cas: {
    readonly what: string;
    readonly key: string;
    /** The value that counts when the key does not exist. */
    readonly absent: T;
    seen(): Seen<T>;
    remember(seen: Seen<T>): void;
    decode(kv: IKeyValue): T;
    decide(stored: T): { readonly write?: string; readonly value?: T; readonly result: R };
  }): Promise<R> {
    let seen = cas.seen();
    for (let attempt = 1; attempt <= MAX_CAS_ATTEMPTS; attempt++) {
      const decision = cas.decide(seen.value);
      if (decision.write === undefined) return decision.result;
      const write = decision.write;
      const response: ITxnResponse = await this.#call(cas.what, () =>
        this.client
          .if(cas.key, 'Mod', '==', seen.revision)
          .then(this.client.put(cas.key).value(write))
          .else(this.client.get(cas.key))
          .commit(),
      );
      if (response.succeeded) {
        cas.remember({ revision: response.header.revision, value: decision.value as T });
        return decision.result;
      }
      const kv = response.responses[0]?.response_range?.kvs?.[0];
      seen = kv
        ? { revision: kv.mod_revision, value: cas.decode(kv) }
        : { revision: ABSENT, value: cas.absent };
      cas.remember(seen);
    }
    throw walError('UNAVAILABLE', `${cas.what}: lost ${MAX_CAS_ATTEMPTS} compare-and-swaps in a row`, {
      retriable: true,
      details: { key: cas.key },
    });
  }

  async #range(prefix: string, what: string): Promise<IKeyValue[]> {
    const response = await this.#call(what, () => this.client.getAll().prefix(prefix).exec());
    return response.kvs;
  }

  async #call<T>(what: string, operation: () => Promise<T>): Promise<T> {
    if (this.#closed) throw walError('CLOSED', `${what}: the catalog is closed`, { retriable: false });
    try {
      return await operation();
    } catch (error) {
      throw etcdError(error, what);
    }
  }
}
