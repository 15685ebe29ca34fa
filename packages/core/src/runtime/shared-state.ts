/**
 * Per-WAL state that several interceptors of one stack share (the txn manager that timetick and lock
 * both use, the shard manager, ...). Keys are typed, so a reader gets back the type the creator stored.
 */
export interface SharedKey<T> {
  readonly description: string;
  /** Never read: it only carries `T`. */
  readonly __type?: T;
}

export function sharedKey<T>(description: string): SharedKey<T> {
  return Object.freeze({ description });
}

export class SharedState {
  readonly #values = new Map<SharedKey<unknown>, unknown>();

  /** The value under `key`, created by `create` on first use. */
  getOrCreate<T>(key: SharedKey<T>, create: () => T): T {
    if (!this.#values.has(key)) this.#values.set(key, create());
    return this.#values.get(key) as T;
  }

  get<T>(key: SharedKey<T>): T | undefined {
    return this.#values.get(key) as T | undefined;
  }

  set<T>(key: SharedKey<T>, value: T): void {
    this.#values.set(key, value);
  }
}
