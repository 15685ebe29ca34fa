import { etcdError } from '@walstream/catalog-etcd';
import { WalError } from '@walstream/core';
import { checkKnownKeys, integerOption, stringOption } from '@walstream/core/internal';
import { noObservability, type Observability } from '@walstream/core/spi';
import type { Etcd3, ITxnResponse } from 'etcd3';
import { KeptLease } from '../sessions/lease.js';

const DEFAULT_PREFIX = 'walstream/';
/** The coordinator's lease TTL by default, as the node sessions'. */
const DEFAULT_ELECTION_TTL_SECONDS = 10;

export interface CampaignOptions {
  /** This coordinator's etcd client (`createEtcdClient`). The election does not close it. */
  readonly client: Etcd3;
  /** Who campaigns: written to the election key, e.g. the coordinator's address. */
  readonly candidate: string;
  /** Prefix of the election key; the catalog's. Default `walstream/`. */
  readonly prefix?: string;
  /**
   * Seconds the active coordinator stays active after its last acknowledged keepalive; a standby takes
   * over after about this long. Default 10 (etcd raises anything below 2 to 2).
   */
  readonly ttlSeconds?: number;
  /** Gives up campaigning (ABORTED). Once active, `resign()` ends the term instead. */
  readonly signal?: AbortSignal;
  readonly observability?: Observability;
}

/** The active coordinator's term, held while its lease lasts. */
export interface Leadership extends AsyncDisposable {
  readonly candidate: string;
  /** The etcd revision that created the election key: grows with every new leader. */
  readonly revision: bigint;
  /** The TTL etcd applied to the leadership lease, in seconds. */
  readonly grantedTtlSeconds: number;
  /**
   * Aborted when this coordinator is no longer active: resigned, or its lease ran out here (no keepalive
   * acknowledged within the TTL; the reason is UNAVAILABLE). It aborts no later than etcd ends the lease,
   * so the next leader is elected only after this one was told to stop. Stop every action with it.
   */
  readonly signal: AbortSignal;
  /** Ends the term now: revokes the lease, so a standby takes over without waiting for the TTL. */
  resign(): Promise<void>;
  /**
   * Writes where this coordinator serves to `<prefix>coordinator/address`, under the leadership lease: it
   * goes with the lease, and only the holder of that lease can write it (`CoordinatorTso` and other
   * callers find the active coordinator there).
   */
  publishAddress(address: string): Promise<void>;
}

/**
 * Campaigns for the coordinator's seat: resolves once this candidate holds the election key, which lives
 * under a lease this process keeps alive. Until then it waits on a watch of the key, so a standby takes
 * over as soon as the active coordinator's key is deleted — revoked on resignation, or expired by etcd
 * after the active one stopped keeping it alive. The new leader rebuilds its state from the catalog
 * alone; a deposed one that has not noticed yet is still fenced by the catalog's compare-and-swaps.
 */
export async function campaign(options: CampaignOptions): Promise<Leadership> {
  const where = 'campaign';
  checkKnownKeys(where, options, ['client', 'candidate', 'prefix', 'ttlSeconds', 'signal', 'observability']);
  const client = options.client;
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
  const candidate = stringOption(where, 'candidate', options.candidate, '', false);
  if (options.candidate === undefined) {
    throw new WalError('INVALID_ARGUMENT', `${where}: option candidate is required`, {
      retriable: false,
      details: { option: 'candidate' },
    });
  }
  const ttl = integerOption(where, 'ttlSeconds', options.ttlSeconds, DEFAULT_ELECTION_TTL_SECONDS);
  let prefix = stringOption(where, 'prefix', options.prefix, DEFAULT_PREFIX);
  if (!prefix.endsWith('/')) prefix += '/';
  const key = `${prefix}coordinator/active`;
  const signal = options.signal;
  const obs = (options.observability ?? noObservability).child({ component: 'election', candidate });

  const aborted = (): WalError =>
    new WalError('ABORTED', `${where}: ${candidate} stopped campaigning`, {
      retriable: false,
      cause: signal?.reason,
    });
  if (signal?.aborted) throw aborted();

  const lease = await KeptLease.grant(client, ttl, `election of ${candidate}`, obs);
  try {
    for (;;) {
      if (signal?.aborted) throw aborted();
      if (lease.signal.aborted) throw lease.signal.reason;
      let outcome: ITxnResponse;
      try {
        outcome = await client
          .if(key, 'Create', '==', 0)
          .then(lease.lease.put(key).value(candidate))
          .else(client.get(key))
          .commit();
      } catch (error) {
        throw etcdError(error, `campaign on ${key}`);
      }
      if (outcome.succeeded) {
        // The put created the key, so its create revision is the transaction's revision.
        const revision = BigInt(outcome.header.revision);
        obs.logger.info(
          { lease: lease.id, revision: revision.toString() },
          `${candidate} is the active coordinator`,
        );
        return leadership(client, key, `${prefix}coordinator/address`, candidate, revision, lease);
      }
      const holder = outcome.responses[0]?.response_range?.kvs[0];
      obs.logger.debug({ holder: holder?.value.toString() }, `${candidate} waits as a standby`);
      await untilDeleted(client, key, holder?.create_revision, signal, lease.signal);
    }
  } catch (error) {
    await lease.revoke().catch(() => {});
    throw error;
  }
}

function leadership(
  client: Etcd3,
  key: string,
  addressKey: string,
  candidate: string,
  revision: bigint,
  lease: KeptLease,
): Leadership {
  let resigned: Promise<void> | undefined;
  const resign = (): Promise<void> => {
    resigned ??= (async () => {
      if (lease.signal.aborted) return;
      // Deleting only our own key: a later leader's key is never touched.
      await client
        .if(key, 'Lease', '==', lease.id)
        .then(client.delete().key(key))
        .commit()
        .catch(() => {});
      await lease.revoke();
    })();
    return resigned;
  };
  const publishAddress = async (address: string): Promise<void> => {
    if (lease.signal.aborted) {
      throw new WalError('ON_SHUTDOWN', `${candidate} is no longer the active coordinator`, {
        retriable: false,
      });
    }
    // Only while our election key is still ours: a deposed holder must not point callers at itself.
    const result = await client
      .if(key, 'Lease', '==', lease.id)
      .then(lease.lease.put(addressKey).value(address))
      .commit()
      .catch((error: unknown) => {
        throw etcdError(error, `publish ${addressKey}`);
      });
    if (!result.succeeded) {
      throw new WalError('ON_SHUTDOWN', `${candidate} no longer holds ${key}`, { retriable: false });
    }
  };
  return {
    candidate,
    revision,
    grantedTtlSeconds: lease.grantedTtlSeconds,
    signal: lease.signal,
    resign,
    publishAddress,
    [Symbol.asyncDispose]: resign,
  };
}

/** Resolves once the key of the given creation revision is gone (or was already), or a signal fires. */
async function untilDeleted(
  client: Etcd3,
  key: string,
  createRevision: string | undefined,
  ...signals: (AbortSignal | undefined)[]
): Promise<void> {
  const watcher = await client
    .watch()
    .key(key)
    .create()
    .catch((error: unknown) => {
      throw etcdError(error, `watch ${key}`);
    });
  try {
    await new Promise<void>((resolve) => {
      const done = (): void => resolve();
      watcher.on('delete', done);
      watcher.on('put', (kv) => {
        if (kv.create_revision !== createRevision) done();
      });
      for (const s of signals) s?.addEventListener('abort', done, { once: true });
      // The key may have gone between the campaign's read and the watch's start.
      void client
        .get(key)
        .exec()
        .then((got) => {
          if (got.kvs[0]?.create_revision !== createRevision) done();
        }, done);
    });
  } finally {
    await watcher.cancel().catch(() => {});
  }
}
