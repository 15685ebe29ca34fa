import {
  abortError,
  assertPChannelInfo,
  type BuildOptions,
  type OpenOptions,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsCapabilities,
  type WalImplsOpener,
} from '@walstream/core/spi';
import { errors } from './errors.js';
import { MEMORY_WAL_NAME, registerMemoryMessageIdCodec } from './message-id.js';
import { channelLog, MemoryLogStore, type MemoryLogStoreOptions } from './store.js';
import { MemoryWal } from './wal.js';

export interface MemoryAdapterOptions extends MemoryLogStoreOptions {
  /**
   * The store to keep data in; share one to let several adapters or tests see the same logs. When given,
   * the limits and seed are the store's own: pass them to `new MemoryLogStore(...)` instead.
   */
  readonly store?: MemoryLogStore;
}

/** The `memory` builder, with its store exposed for fault injection and inspection. */
export interface MemoryAdapter extends WalImplsBuilder {
  readonly name: typeof MEMORY_WAL_NAME;
  readonly store: MemoryLogStore;
}

const CAPABILITIES: WalImplsCapabilities = Object.freeze({ truncate: 'physical', fencing: true });

/**
 * The in-memory reference adapter. Each call without `store` gets a fresh, empty store; every opener the
 * builder makes shares that store.
 *
 * ```ts
 * const adapter = memoryAdapter();
 * const opener = await adapter.build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export function memoryAdapter(options: MemoryAdapterOptions = {}): MemoryAdapter {
  // Also at module load; repeated here because bundlers may drop a side-effect-only import.
  registerMemoryMessageIdCodec();
  const { store: given, ...storeOptions } = options;
  if (given && Object.values(storeOptions).some((value) => value !== undefined)) {
    throw errors.invalid(
      'memoryAdapter: pass maxEntriesPerChannel, maxBytesPerChannel and seed to the MemoryLogStore, not alongside `store`',
    );
  }
  const store = given ?? new MemoryLogStore(storeOptions);
  return {
    name: MEMORY_WAL_NAME,
    capabilities: CAPABILITIES,
    store,
    async build(buildOptions?: BuildOptions): Promise<WalImplsOpener> {
      if (buildOptions?.signal?.aborted) throw abortError(buildOptions.signal, 'memory adapter build');
      return new MemoryOpener(store);
    },
  };
}

/** Hands out WALs over one store and closes them all when it closes. */
class MemoryOpener implements WalImplsOpener {
  readonly #store: MemoryLogStore;
  readonly #wals = new Set<MemoryWal>();
  #closed: Promise<void> | undefined;

  constructor(store: MemoryLogStore) {
    this.#store = store;
  }

  async open(options: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw errors.openerClosed();
    if (options?.signal?.aborted) throw abortError(options.signal, 'memory WAL open');
    if (typeof options?.channel !== 'object' || options.channel === null) {
      throw errors.invalid('open needs a channel (PChannelInfo)');
    }
    assertPChannelInfo(options.channel);
    const { channel } = options;
    const log = channelLog(this.#store, channel.name);
    // Opening RW at a higher term is what fences every older writer of the pchannel.
    if (channel.accessMode === 'rw' && channel.term > log.highestTerm) log.highestTerm = channel.term;
    const wal = new MemoryWal(log, channel, (closed) => this.#wals.delete(closed));
    this.#wals.add(wal);
    return wal;
  }

  close(): Promise<void> {
    this.#closed ??= Promise.all([...this.#wals].map((wal) => wal.close())).then(() => undefined);
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
