import { assertPChannelInfo, type PChannelInfo } from '../channel/channel.js';
import { WalError } from '../errors/index.js';
import type { TimestampAllocator } from '../timetick/allocator.js';
import type { WalImplsOpener } from '../walimpls/spi.js';
import type { Interceptor, InterceptorBuilder } from './interceptor.js';
import type { Wal, WalOpener } from './wal.js';
import { WalRuntime, type WalRuntimeOptions } from './wal-runtime.js';

export interface WalStack {
  readonly walName: string;
  readonly opener: WalImplsOpener;
  readonly interceptors: readonly InterceptorBuilder[];
  readonly allocator: TimestampAllocator;
  readonly runtime?: WalRuntimeOptions;
}

/** Opens WALs of one stack (adapter + interceptors) and closes them all on close. */
export class WalStackOpener implements WalOpener {
  readonly walName: string;
  readonly #stack: WalStack;
  readonly #open = new Set<Wal>();
  #closing: Promise<void> | undefined;

  constructor(stack: WalStack) {
    this.#stack = stack;
    this.walName = stack.walName;
  }

  async open(options: { channel: PChannelInfo; signal?: AbortSignal }): Promise<Wal> {
    if (this.#closing) throw new WalError('ON_SHUTDOWN', 'wal opener is closed');
    assertPChannelInfo(options.channel);
    const impls = await this.#stack.opener.open(options);
    let resolveWal!: (wal: Wal) => void;
    const walReady = new Promise<Wal>((resolve) => {
      resolveWal = resolve;
    });
    const interceptors: Interceptor[] = [];
    try {
      for (const builder of this.#stack.interceptors) {
        interceptors.push(
          await builder.build({
            channel: impls.channel,
            wal: () => walReady,
            allocator: this.#stack.allocator,
            recoverySnapshot: undefined,
          }),
        );
      }
    } catch (error) {
      await Promise.allSettled(interceptors.map((interceptor) => interceptor.close?.()));
      await impls.close();
      throw error;
    }
    const wal: Wal = new WalRuntime(
      impls,
      interceptors,
      this.#stack.allocator,
      () => this.#open.delete(wal),
      this.#stack.runtime,
    );
    this.#open.add(wal);
    resolveWal(wal);
    return wal;
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
