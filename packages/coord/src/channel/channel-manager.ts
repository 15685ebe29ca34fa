import { type AccessMode, type Catalog, hasCode, type PChannelMeta } from '@walstream/core';
import { walError } from '@walstream/core/internal';
import { BehaviorSubject, type Observable } from 'rxjs';
import { compareNames } from '../policy/order.js';

/** The term of a pchannel that was never assigned; its first owner gets term 1. */
export const UNASSIGNED_TERM = 0n;

/** Orders snapshots: a coordinator incarnation (from the TSO, so it rises across restarts), then a counter. */
export interface LayoutVersion {
  readonly incarnation: bigint;
  readonly local: bigint;
}

export function compareVersions(a: LayoutVersion, b: LayoutVersion): number {
  if (a.incarnation !== b.incarnation) return a.incarnation < b.incarnation ? -1 : 1;
  return a.local < b.local ? -1 : a.local > b.local ? 1 : 0;
}

/** Every pchannel meta at one version. */
export interface MetaSnapshot {
  readonly version: LayoutVersion;
  /** Sorted by pchannel name. */
  readonly metas: readonly PChannelMeta[];
}

export interface ChannelManagerOptions {
  readonly catalog: Catalog;
  /** The pchannels the deployment configures; persisted ones not listed are kept. */
  readonly pchannels: readonly string[];
  /** Rises across coordinator restarts (a TSO timetick): the first half of every version. */
  readonly incarnation: bigint;
  /** The access mode new owners get. Default `rw`. */
  readonly accessMode?: AccessMode;
}

/**
 * The pchannel metas: name, term, owner, state (uninitialized → assigning → assigned, or unavailable),
 * and the earlier owners that may still hold the WAL open. Every change is saved in the catalog before
 * the in-memory copy changes and before anyone acts on it; changes are applied one at a time.
 */
export class ChannelManager {
  readonly #catalog: Catalog;
  readonly #accessMode: AccessMode;
  readonly #metas = new Map<string, PChannelMeta>();
  readonly #snapshots: BehaviorSubject<MetaSnapshot>;
  readonly incarnation: bigint;
  #local = 0n;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: ChannelManagerOptions, metas: readonly PChannelMeta[]) {
    this.#catalog = options.catalog;
    this.#accessMode = options.accessMode ?? 'rw';
    this.incarnation = options.incarnation;
    for (const meta of metas) this.#metas.set(meta.channel.name, meta);
    this.#snapshots = new BehaviorSubject(this.#snapshot());
  }

  /** Rebuilds the metas from the catalog, adding a fresh (unsaved) meta for each new configured pchannel. */
  static async recover(options: ChannelManagerOptions): Promise<ChannelManager> {
    const saved = await options.catalog.listPChannels();
    const names = new Set(saved.map((m) => m.channel.name));
    const fresh: PChannelMeta[] = [];
    for (const name of options.pchannels) {
      if (typeof name !== 'string' || name.length === 0) {
        throw walError(
          'INVALID_ARGUMENT',
          `pchannel name ${JSON.stringify(name)} must be a non-empty string`,
          {
            retriable: false,
          },
        );
      }
      if (names.has(name)) continue;
      names.add(name);
      fresh.push({
        channel: { name, term: UNASSIGNED_TERM, accessMode: options.accessMode ?? 'rw' },
        state: 'uninitialized',
        history: [],
      });
    }
    return new ChannelManager(options, [...saved, ...fresh]);
  }

  /** The current snapshot, then one after every change. */
  get metas$(): Observable<MetaSnapshot> {
    return this.#snapshots.asObservable();
  }

  get snapshot(): MetaSnapshot {
    return this.#snapshots.value;
  }

  get(name: string): PChannelMeta {
    const meta = this.#metas.get(name);
    if (!meta)
      throw walError('CHANNEL_NOT_EXIST', `pchannel ${name} is not managed by this coordinator`, {
        retriable: false,
      });
    return meta;
  }

  /**
   * Gives `name` to `nodeId`: saves ASSIGNING at term + 1 with the previous owner kept in the history.
   * Asking again for the owner a pending assignment already names keeps its term (the Assign is re-sent,
   * never skipped); an ASSIGNED pchannel already on `nodeId` is left as it is. `renew` raises the term
   * anyway (the node failed to open the WAL at the current one). Resolves the meta to act on.
   */
  assign(name: string, nodeId: string, options: { renew?: boolean } = {}): Promise<PChannelMeta> {
    return this.#change(name, (meta) => {
      if (
        !options.renew &&
        meta.nodeId === nodeId &&
        (meta.state === 'assigned' || meta.state === 'assigning')
      ) {
        return undefined;
      }
      const history = [...meta.history];
      if (meta.state !== 'uninitialized' && meta.nodeId !== undefined) {
        const same = history.findIndex((h) => h.nodeId === meta.nodeId);
        const entry = { nodeId: meta.nodeId, term: meta.channel.term };
        if (same >= 0) history.splice(same, 1);
        history.push(entry);
      }
      return {
        channel: { name, term: meta.channel.term + 1n, accessMode: this.#accessMode },
        state: 'assigning',
        nodeId,
        history,
      };
    });
  }

  /** ASSIGNING at `term` → ASSIGNED, history cleared; false (nothing saved) when the meta moved on. */
  async assignDone(name: string, term: bigint): Promise<boolean> {
    let done = false;
    await this.#change(name, (meta) => {
      if (meta.state !== 'assigning' || meta.channel.term !== term) return undefined;
      done = true;
      return { ...meta, state: 'assigned', history: [] };
    });
    return done;
  }

  /** ASSIGNED at `term` → UNAVAILABLE; a stale report (another term or state) is ignored and false. */
  async markUnavailable(name: string, term: bigint): Promise<boolean> {
    let marked = false;
    await this.#change(name, (meta) => {
      if (meta.state !== 'assigned' || meta.channel.term !== term) return undefined;
      marked = true;
      return { ...meta, state: 'unavailable' };
    });
    return marked;
  }

  /** Drops history entries the old owners confirmed released (or that are gone), once saved. */
  forgetHistory(name: string, released: readonly { nodeId: string; term: bigint }[]): Promise<PChannelMeta> {
    return this.#change(name, (meta) => {
      const history = meta.history.filter(
        (h) => !released.some((r) => r.nodeId === h.nodeId && r.term === h.term),
      );
      return history.length === meta.history.length ? undefined : { ...meta, history };
    });
  }

  /** Serializes changes; `update` returns undefined for "nothing to do" (nothing is saved then). */
  #change(name: string, update: (meta: PChannelMeta) => PChannelMeta | undefined): Promise<PChannelMeta> {
    const run = this.#queue.then(async () => {
      const meta = this.get(name);
      const next = update(meta);
      if (next === undefined) return meta;
      try {
        await this.#catalog.savePChannels([next]);
      } catch (error) {
        // A catalog with compare-and-swap (etcd) refuses a save over a meta another coordinator wrote.
        if (hasCode(error, 'CHANNEL_FENCED')) {
          throw walError(
            'CHANNEL_FENCED',
            `pchannel ${name} was changed in the catalog by another coordinator: this one is not the active one`,
            { retriable: false, cause: error, details: { pchannel: name, catalog: true } },
          );
        }
        throw error;
      }
      this.#metas.set(name, next);
      this.#local++;
      this.#snapshots.next(this.#snapshot());
      return next;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  #snapshot(): MetaSnapshot {
    return {
      version: { incarnation: this.incarnation, local: this.#local },
      metas: [...this.#metas.values()].sort((a, b) => compareNames(a.channel.name, b.channel.name)),
    };
  }

  /** Bumps the version without a meta change (the node set changed), so watchers see a new snapshot. */
  touch(): void {
    this.#local++;
    this.#snapshots.next(this.#snapshot());
  }

  close(): void {
    this.#snapshots.complete();
  }
}
