import { abortError } from '@walstream/core/spi';

export type Release = () => void;

interface Waiter {
  readonly write: boolean;
  grant(): void;
  cancelled: boolean;
}

/**
 * A fair read/write lock: waiters are served in arrival order, and a waiting writer holds back readers
 * that arrive after it, so a stream of shared appends cannot starve an exclusive one.
 */
export class RwLock {
  #readers = 0;
  #writer = false;
  readonly #queue: Waiter[] = [];

  get idle(): boolean {
    return this.#readers === 0 && !this.#writer && this.#queue.length === 0;
  }

  /** A read lock now, or undefined when one must wait. */
  tryRead(): Release | undefined {
    if (this.#writer || this.#queue.length > 0) return undefined;
    this.#readers++;
    return this.#readRelease();
  }

  read(signal?: AbortSignal): Promise<Release> {
    const now = this.tryRead();
    return now ? Promise.resolve(now) : this.#enqueue(false, signal);
  }

  tryWrite(): Release | undefined {
    if (this.#writer || this.#readers > 0 || this.#queue.length > 0) return undefined;
    this.#writer = true;
    return this.#writeRelease();
  }

  write(signal?: AbortSignal): Promise<Release> {
    const now = this.tryWrite();
    return now ? Promise.resolve(now) : this.#enqueue(true, signal);
  }

  #enqueue(write: boolean, signal: AbortSignal | undefined): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortError(signal, 'lock wait'));
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        waiter.cancelled = true;
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
        reject(abortError(signal, 'lock wait'));
        // A cancelled writer at the head may have been holding readers back.
        this.#drain();
      };
      const waiter: Waiter = {
        write,
        cancelled: false,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(write ? this.#writeRelease() : this.#readRelease());
        },
      };
      this.#queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #readRelease(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#readers--;
      this.#drain();
    };
  }

  #writeRelease(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#writer = false;
      this.#drain();
    };
  }

  #drain(): void {
    while (this.#queue.length > 0 && !this.#writer) {
      const head = this.#queue[0]!;
      if (head.write) {
        if (this.#readers > 0) return;
        this.#queue.shift();
        this.#writer = true;
        head.grant();
        return;
      }
      this.#queue.shift();
      this.#readers++;
      head.grant();
    }
  }
}

/**
 * One {@link RwLock} per key, created on first use and kept: keys are vchannels, few and long-lived, and
 * re-creating a lock per append would only feed the garbage collector. {@link forget} drops one.
 */
export class KeyedRwLock {
  readonly #locks = new Map<string, RwLock>();

  get size(): number {
    return this.#locks.size;
  }

  tryRead(key: string): Release | undefined {
    return this.#lock(key).tryRead();
  }

  read(key: string, signal?: AbortSignal): Promise<Release> {
    return this.#lock(key).read(signal);
  }

  write(key: string, signal?: AbortSignal): Promise<Release> {
    return this.#lock(key).write(signal);
  }

  /** Drops the lock of `key` if nobody holds or waits for it (e.g. its vchannel was dropped). */
  forget(key: string): void {
    if (this.#locks.get(key)?.idle) this.#locks.delete(key);
  }

  #lock(key: string): RwLock {
    let lock = this.#locks.get(key);
    if (!lock) {
      lock = new RwLock();
      this.#locks.set(key, lock);
    }
    return lock;
  }
}
