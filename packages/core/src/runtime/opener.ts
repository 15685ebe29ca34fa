import { assertPChannelInfo, type PChannelInfo } from '../channel/channel.js';
import type { Catalog } from '../contracts/catalog.js';
import { WalError } from '../errors/wal-error.js';
import type { MutableMessage } from '../message/message.js';
import type { Observability } from '../observability/observability.js';
import { WalMetrics } from '../observability/wal-metrics.js';
import type { TimestampAllocator } from '../timetick/allocator.js';
import type { WalImpls, WalImplsOpener } from '../walimpls/spi.js';
import { appendToAdapter, DEFAULT_APPEND_RETRY } from './append-retry.js';
import { ForeignRecords } from './foreign.js';
import type { Interceptor, InterceptorBuilder, InterceptorBuildParams } from './interceptor.js';
import { SharedState } from './shared-state.js';
import type { Wal, WalOpener } from './wal.js';
import { WalRuntime, type WalRuntimeOptions } from './wal-runtime.js';

export interface WalStack {
  readonly walName: string;
  readonly opener: WalImplsOpener;
  readonly interceptors: readonly InterceptorBuilder[];
  readonly allocator: TimestampAllocator;
  readonly catalog: Catalog;
  readonly observability: Observability;
  readonly runtime?: WalRuntimeOptions;
}

/** Opens WALs of one stack (adapter + interceptors) and closes them all on close. */
export class WalStackOpener implements WalOpener {
  readonly walName: string;
  readonly #stack: WalStack;
  readonly #open = new Set<Wal>();
  #closing: Promise<void> | undefined;

  readonly #metrics: WalMetrics;
  readonly #foreign: ForeignRecords;

  constructor(stack: WalStack) {
    this.#stack = stack;
    this.walName = stack.walName;
    this.#metrics = new WalMetrics(stack.observability.meter);
    this.#foreign = new ForeignRecords(stack.runtime?.foreignRecords ?? 'skip', stack.observability);
  }

  async open(options: { channel: PChannelInfo; signal?: AbortSignal }): Promise<Wal> {
    if (this.#closing) throw this.#closedError();
    assertPChannelInfo(options.channel);
    const impls = await this.#stack.opener.open(options);
    let resolveWal!: (wal: Wal) => void;
    const walReady = new Promise<Wal>((resolve) => {
      resolveWal = resolve;
    });
    const interceptors: Interceptor[] = [];
    const params = this.#buildParams(impls, () => walReady);
    try {
      for (const builder of this.#stack.interceptors) interceptors.push(await builder.build(params));
    } catch (error) {
      await Promise.allSettled(interceptors.map((interceptor) => interceptor.close?.()));
      await impls.close();
      throw error;
    }
    const wal: Wal = new WalRuntime({
      impls,
      interceptors,
      allocator: this.#stack.allocator,
      onClosed: () => this.#open.delete(wal),
      observability: params.observability,
      metrics: this.#metrics,
      options: this.#stack.runtime,
      foreign: this.#foreign,
    });
    if (this.#closing) {
      // Closed while this open was under way: the caller gets nothing to leak.
      await wal.close();
      throw this.#closedError();
    }
    this.#open.add(wal);
    resolveWal(wal);
    return wal;
  }

  #buildParams(impls: WalImpls, wal: () => Promise<Wal>): InterceptorBuildParams {
    const retry = this.#stack.runtime?.appendRetry ?? DEFAULT_APPEND_RETRY;
    return {
      channel: impls.channel,
      wal,
      allocator: this.#stack.allocator,
      catalog: this.#stack.catalog,
      observability: this.#stack.observability.child({ pchannel: impls.channel.name }),
      shared: new SharedState(),
      appendDirect: async (message: MutableMessage) => {
        const id = await appendToAdapter(impls, message, {
          retry,
          stopped: () => (this.#closing ? this.#closedError() : undefined),
        });
        return message.intoImmutable(id);
      },
      // Recovery replays the log: the foreign-records policy applies to it as to readers.
      readRaw: async (options) =>
        this.#foreign.wrap(await impls.read(options), impls.channel.name, impls.walName, (deliverPolicy) =>
          impls.read({ ...options, deliverPolicy }),
        ),
    };
  }

  /** Closed by its owner: nothing this opener does can succeed again. */
  #closedError(): WalError {
    return new WalError('CLOSED', 'wal opener was closed', { retriable: false });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#open].map((wal) => wal.close()));
      await this.#stack.opener.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
