import { type ResourceKey, WalError } from '@walstream/core';

/** Held resource keys; release once (again is a no-op). */
export interface LockGuard extends Disposable {
  readonly keys: readonly ResourceKey[];
  release(): void;
}

interface Waiter {
  readonly shared: boolean;
  readonly grant: () => void;
}

class KeyState {
  sharedHolders = 0;
  exclusive = false;
  readonly queue: Waiter[] = [];

  /** Compatible with the holders, and nobody queued ahead (fair: a queued writer stops new readers). */
  canGrant(shared: boolean): boolean {
    if (this.queue.length > 0) return false;
    return shared ? !this.exclusive : !this.exclusive && this.sharedHolders === 0;
  }

  take(shared: boolean): void {
    if (shared) this.sharedHolders++;
    else this.exclusive = true;
  }

  idle(): boolean {
    return this.sharedHolders === 0 && !this.exclusive && this.queue.length === 0;
  }
}

function id(key: ResourceKey): string {
  return `${key.domain}:${key.key}`;
}

export function describeKey(key: ResourceKey): string {
  return `${id(key)}@${key.shared ? 'R' : 'X'}`;
}

/**
 * Dedupes `keys` and sorts them by (domain, key): every caller takes keys in this one order, so two
 * callers never wait on each other crosswise. The shared and exclusive forms of one key in one call
 * would wait on itself: INVALID_ARGUMENT.
 */
export function normalizeKeys(keys: readonly ResourceKey[]): ResourceKey[] {
  const byId = new Map<string, ResourceKey>();
  for (const key of keys) {
    if (typeof key?.key !== 'string' || !Number.isInteger(key.domain)) {
      throw new WalError('INVALID_ARGUMENT', 'a resource key needs an integer domain and a string key', {
        retriable: false,
      });
    }
    const known = byId.get(id(key));
    if (known && known.shared !== key.shared) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `resource key ${id(key)} is asked for both shared and exclusive`,
        {
          retriable: false,
        },
      );
    }
    byId.set(id(key), { domain: key.domain, key: key.key, shared: key.shared });
  }
  return [...byId.values()].sort(
    (a, b) => a.domain - b.domain || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}

/**
 * Shared/exclusive locks on resource keys, in process. Waiters are served first come, first served per
 * key; a blocking lock takes an AbortSignal (Milvus's takes none, so a stuck holder froze every caller),
 * and a try-lock takes every key at once or none.
 */
export class ResourceKeyLocks {
  readonly #keys = new Map<string, KeyState>();

  /** Takes every key, in sorted order; rejects ABORTED (holding nothing) when `signal` fires first. */
  async lock(keys: readonly ResourceKey[], signal?: AbortSignal): Promise<LockGuard> {
    const sorted = normalizeKeys(keys);
    const held: ResourceKey[] = [];
    try {
      for (const key of sorted) {
        await this.#acquire(key, signal);
        held.push(key);
      }
    } catch (error) {
      for (const key of held) this.#release(key);
      throw error;
    }
    return this.#guard(sorted);
  }

  /** Every key now, or undefined (holding nothing) when one of them is taken or has waiters. */
  tryLock(keys: readonly ResourceKey[]): LockGuard | undefined {
    const sorted = normalizeKeys(keys);
    if (!sorted.every((key) => this.#state(key).canGrant(key.shared))) {
      this.#cleanup(sorted);
      return undefined;
    }
    for (const key of sorted) this.#state(key).take(key.shared);
    return this.#guard(sorted);
  }

  /** Keys held or waited for now, as `<domain>:<key>@R|X (holders, waiting)`; for status pages. */
  describe(): string[] {
    return [...this.#keys]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, s]) => `${k} ${s.exclusive ? 'X' : `R×${s.sharedHolders}`} waiting ${s.queue.length}`);
  }

  #state(key: ResourceKey): KeyState {
    let state = this.#keys.get(id(key));
    if (!state) {
      state = new KeyState();
      this.#keys.set(id(key), state);
    }
    return state;
  }

  #cleanup(keys: readonly ResourceKey[]): void {
    for (const key of keys) if (this.#keys.get(id(key))?.idle()) this.#keys.delete(id(key));
  }

  #acquire(key: ResourceKey, signal: AbortSignal | undefined): Promise<void> {
    const state = this.#state(key);
    if (state.canGrant(key.shared)) {
      state.take(key.shared);
      return Promise.resolve();
    }
    if (signal?.aborted) {
      this.#cleanup([key]);
      return Promise.reject(aborted(key, signal));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        shared: key.shared,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const at = state.queue.indexOf(waiter);
        if (at >= 0) state.queue.splice(at, 1);
        // A writer that gave up may have been what held readers behind it.
        this.#wakeWaiters(key);
        reject(aborted(key, signal));
      };
      state.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #release(key: ResourceKey): void {
    const state = this.#keys.get(id(key));
    if (!state) return;
    if (key.shared) state.sharedHolders--;
    else state.exclusive = false;
    this.#wakeWaiters(key);
  }

  #wakeWaiters(key: ResourceKey): void {
    const state = this.#keys.get(id(key));
    if (!state) return;
    while (state.queue.length > 0) {
      const next = state.queue[0] as Waiter;
      const free = next.shared ? !state.exclusive : !state.exclusive && state.sharedHolders === 0;
      if (!free) break;
      state.queue.shift();
      state.take(next.shared);
      next.grant();
    }
    if (state.idle()) this.#keys.delete(id(key));
  }

  #guard(keys: readonly ResourceKey[]): LockGuard {
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      for (const key of keys) this.#release(key);
    };
    return { keys, release, [Symbol.dispose]: release };
  }
}

function aborted(key: ResourceKey, signal: AbortSignal | undefined): WalError {
  return new WalError('ABORTED', `waiting for resource key ${describeKey(key)} was aborted`, {
    retriable: false,
    cause: signal?.reason,
  });
}
