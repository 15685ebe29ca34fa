import { etcdError } from '@walstream/catalog-etcd';
import { WalError } from '@walstream/core';
import type { Observability } from '@walstream/core/spi';
import type { Etcd3, Lease } from 'etcd3';

/** Longest a single keepalive call may take; a hung call must not hold up the next one. */
const KEEPALIVE_CALL_MS = 1_000;

/**
 * An etcd lease kept alive by this process, with a local end it trusts: the send time of the last
 * acknowledged keepalive plus the TTL etcd answered. etcd starts counting that TTL only when it handles
 * the keepalive, after it was sent, so the local end is never later than etcd's — a holder whose keepalives
 * stop getting through gives up (`signal` aborts) before etcd can hand its keys to anyone else.
 */
export class KeptLease {
  readonly id: string;
  /** The TTL etcd granted, in seconds (etcd raises small TTLs; see docs/coord.md). */
  readonly grantedTtlSeconds: number;
  readonly #lease: Lease;
  readonly #abort = new AbortController();
  readonly #obs: Observability;
  readonly #what: string;
  #validUntil: number;
  #expiry: ReturnType<typeof setTimeout> | undefined;
  #loop: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  private constructor(
    lease: Lease,
    id: string,
    ttl: number,
    sentAt: number,
    obs: Observability,
    what: string,
  ) {
    this.#lease = lease;
    this.id = id;
    this.grantedTtlSeconds = ttl;
    this.#obs = obs;
    this.#what = what;
    this.#validUntil = sentAt + ttl * 1_000;
    this.#armExpiry();
    this.#schedule();
  }

  /** Grants a lease of `ttlSeconds` and keeps it alive every third of the granted TTL. */
  static async grant(
    client: Etcd3,
    ttlSeconds: number,
    what: string,
    obs: Observability,
  ): Promise<KeptLease> {
    const lease = client.lease(ttlSeconds, { autoKeepAlive: false });
    lease.on('lost', () => {});
    const sentAt = performance.now();
    let id: string;
    let ttl: number;
    try {
      id = await lease.grant();
      // The grant's answer is hidden by the client; a first keepalive reports the TTL etcd applied.
      const answer = await lease.keepaliveOnce({ deadline: Date.now() + KEEPALIVE_CALL_MS * 5 });
      ttl = Number(answer.TTL);
    } catch (error) {
      lease.release();
      throw etcdError(error, `${what}: grant lease`);
    }
    return new KeptLease(lease, id, ttl, sentAt, obs, what);
  }

  /** Aborted, with the reason as a WalError, when the lease ended: expired, or released by this process. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Milliseconds (on `performance.now()`) until which this process may still count on the lease. */
  get validUntil(): number {
    return this.#validUntil;
  }

  get lease(): Lease {
    return this.#lease;
  }

  /** Stops keeping alive and revokes, so etcd deletes the lease's keys now rather than after the TTL. */
  async revoke(): Promise<void> {
    this.#stop(new WalError('CLOSED', `${this.#what}: lease released`, { retriable: false }));
    try {
      await this.#lease.revoke({ deadline: Date.now() + KEEPALIVE_CALL_MS * 5 });
    } catch (error) {
      // The lease ends with its TTL anyway; the caller learns that the quick path failed.
      throw etcdError(error, `${this.#what}: revoke lease ${this.id}`);
    }
  }

  #stop(reason: WalError): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#expiry);
    clearTimeout(this.#loop);
    this.#lease.release();
    this.#abort.abort(reason);
  }

  #lost(why: string): void {
    if (this.#stopped) return;
    this.#obs.logger.warn({ lease: this.id }, `${this.#what}: lease lost (${why})`);
    this.#stop(
      new WalError('UNAVAILABLE', `${this.#what}: lease ${this.id} ended (${why})`, {
        // The same lease never comes back; the holder has to start over with a new one.
        retriable: false,
        details: { lease: this.id },
      }),
    );
  }

  #armExpiry(): void {
    clearTimeout(this.#expiry);
    const left = Math.max(0, this.#validUntil - performance.now());
    this.#expiry = setTimeout(() => this.#lost('no keepalive acknowledged within the TTL'), left);
    this.#expiry.unref?.();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#loop = setTimeout(() => void this.#keepalive(), (this.grantedTtlSeconds * 1_000) / 3);
    this.#loop.unref?.();
  }

  async #keepalive(): Promise<void> {
    const sentAt = performance.now();
    try {
      const answer = await this.#lease.keepaliveOnce({ deadline: Date.now() + KEEPALIVE_CALL_MS });
      if (this.#stopped) return;
      const ttl = Number(answer.TTL);
      if (ttl <= 0) {
        this.#lost('etcd reports it expired');
        return;
      }
      const until = sentAt + ttl * 1_000;
      if (until > this.#validUntil) {
        this.#validUntil = until;
        this.#armExpiry();
      }
    } catch (error) {
      if (this.#stopped) return;
      const walError = etcdError(error, `${this.#what}: keepalive lease ${this.id}`);
      if (walError.code === 'CLOSED') {
        this.#lost('the etcd client was closed');
        return;
      }
      if (/lease.*(not found|expired|invalid)/i.test(walError.message)) {
        this.#lost('etcd reports it expired');
        return;
      }
      this.#obs.reportError({ component: 'session', error: walError, retrying: true });
    }
    this.#schedule();
  }
}
