import { etcdError } from '@walstream/catalog-etcd';
import { type TimestampAllocator, WalError } from '@walstream/core';
import { checkKnownKeys, delay, integerOption, stringOption } from '@walstream/core/internal';
import {
  AllocateRequestSchema,
  connectRpc,
  create,
  type RpcChannel,
  type RpcClientOptions,
} from '@walstream/rpc';
import type { Etcd3 } from 'etcd3';
import { MAX_BATCH } from './tso.js';

export interface CoordinatorTsoOptions {
  /** An etcd client (`createEtcdClient`), to find the active coordinator. Not closed by the allocator. */
  readonly client: Etcd3;
  /** The coordinators' prefix. Default `walstream/`. */
  readonly prefix?: string;
  /** Token and TLS of the calls to the coordinator. */
  readonly rpc?: RpcClientOptions;
  /** Timeticks taken per call. Default 256. */
  readonly batch?: number;
  /** How long an allocation waits for an active coordinator before it fails UNAVAILABLE. Default 30 000. */
  readonly waitMs?: number;
}

const RETRY_MS = [50, 1_000] as const;
const CALL_MS = 5_000;

/**
 * Timeticks from the active coordinator's TSO, for nodes in processes of their own: batches taken over
 * gRPC from the coordinator whose address is published in etcd (`<prefix>coordinator/address`), handed
 * out from memory. Every timetick of a batch is above every one the TSO handed out before, so a pchannel
 * that moves to another node gets timeticks above its old owner's (as long as the old owner took them
 * from the TSO too), whatever the machines' clocks say. While no coordinator is active an allocation that
 * needs a new batch waits (up to `waitMs`) for one: appends stall during a coordinator failover once the
 * batch in hand is used up.
 */
export class CoordinatorTso implements TimestampAllocator, Disposable {
  readonly #client: Etcd3;
  readonly #addressKey: string;
  readonly #rpc: RpcClientOptions;
  readonly #batch: number;
  readonly #waitMs: number;
  #next = 0n;
  #end = 0n;
  #barrier = 0n;
  #channel: RpcChannel | undefined;
  #refilling: Promise<void> | undefined;
  #closed = false;

  constructor(options: CoordinatorTsoOptions) {
    const where = 'CoordinatorTso';
    checkKnownKeys(where, options, ['client', 'prefix', 'rpc', 'batch', 'waitMs']);
    if (
      typeof options.client !== 'object' ||
      options.client === null ||
      typeof options.client.get !== 'function'
    ) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `${where}: option client must be an etcd client (createEtcdClient)`,
        {
          retriable: false,
          details: { option: 'client' },
        },
      );
    }
    this.#client = options.client;
    let prefix = stringOption(where, 'prefix', options.prefix, 'walstream/');
    if (!prefix.endsWith('/')) prefix += '/';
    this.#addressKey = `${prefix}coordinator/address`;
    this.#rpc = options.rpc ?? {};
    this.#batch = integerOption(where, 'batch', options.batch, 256, { min: 1, max: MAX_BATCH });
    this.#waitMs = integerOption(where, 'waitMs', options.waitMs, 30_000);
  }

  allocateNow(): bigint | undefined {
    if (this.#next < this.#barrier) this.#next = this.#barrier;
    if (this.#next >= this.#end) return undefined;
    return this.#next++;
  }

  async allocate(): Promise<bigint> {
    for (;;) {
      const tick = this.allocateNow();
      if (tick !== undefined) return tick;
      if (this.#end > 0n && this.#end <= this.#barrier) {
        // The TSO is behind a barrier set from elsewhere (a recovered WAL's last timetick): wait for its
        // clock to pass it rather than taking batch after batch below it.
        const behindMs = Number((this.#barrier - this.#end) >> 18n);
        await delay(Math.min(Math.max(behindMs, 1), 1_000));
      }
      this.#refilling ??= this.#refill().finally(() => {
        this.#refilling = undefined;
      });
      await this.#refilling;
    }
  }

  sync(): void {
    this.#next = this.#end;
  }

  async barrierUntil(barrier: bigint): Promise<void> {
    if (barrier > this.#barrier) this.#barrier = barrier;
  }

  close(): void {
    this.#closed = true;
    this.#channel?.close();
    this.#channel = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Takes a batch from the active coordinator, finding it again after a failure, until `waitMs`. */
  async #refill(): Promise<void> {
    const deadline = Date.now() + this.#waitMs;
    let wait: number = RETRY_MS[0];
    let last: unknown;
    for (;;) {
      if (this.#closed) throw new WalError('CLOSED', 'CoordinatorTso is closed', { retriable: false });
      try {
        this.#channel ??= connectRpc(await this.#activeAddress(), this.#rpc);
        const batch = await this.#channel.tso.allocate(
          create(AllocateRequestSchema, { count: this.#batch }),
          {
            signal: AbortSignal.timeout(CALL_MS),
          },
        );
        this.#next = batch.first;
        this.#end = batch.first + BigInt(batch.count);
        return;
      } catch (error) {
        last = error;
        this.#channel?.close();
        this.#channel = undefined;
      }
      if (Date.now() + wait > deadline) {
        throw new WalError(
          'UNAVAILABLE',
          `no timeticks from an active coordinator within ${this.#waitMs} ms`,
          {
            retriable: true,
            cause: last,
          },
        );
      }
      await delay(wait);
      wait = Math.min(RETRY_MS[1], wait * 2);
    }
  }

  async #activeAddress(): Promise<string> {
    let address: string | null;
    try {
      address = await this.#client.get(this.#addressKey).string();
    } catch (error) {
      throw etcdError(error, `read ${this.#addressKey}`);
    }
    if (address === null) {
      throw new WalError('UNAVAILABLE', 'no coordinator is active (no published address)', {
        retriable: true,
      });
    }
    return address;
  }
}
