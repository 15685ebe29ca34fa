import { checkKnownKeys } from '@walstream/core/internal';
import {
  abortError,
  assertPChannelInfo,
  type BuildOptions,
  noObservability,
  type Observability,
  type OpenOptions,
  registerMessageIdCodec,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsCapabilities,
  type WalImplsOpener,
} from '@walstream/core/spi';
import { errors } from './errors.js';
import { MEMORY_WAL_NAME, MemoryMessageId } from './message-id.js';
import {
  channelLog,
  MemoryLogStore,
  type MemoryLogStoreOptions,
  resolveStoreOptions,
  STORE_OPTION_KEYS,
} from './store.js';
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

const OPTION_KEYS = ['store', ...STORE_OPTION_KEYS];

/**
 * The in-memory reference adapter. Each call without `store` gets a fresh, empty store; every opener the
 * builder makes shares that store. Unknown or bad options throw INVALID_ARGUMENT naming the option.
 * It logs through the `observability` that `build()` receives (the stack's, from `createWal()`).
 *
 * ```ts
 * const adapter = memoryAdapter();
 * const opener = await adapter.build();
 * const wal = await opener.open({ channel: pchannel('orders', 1n) });
 * ```
 */
export function memoryAdapter(options: MemoryAdapterOptions = {}): MemoryAdapter {
  // Also at module load; repeated here because bundlers may drop a side-effect-only import.
  registerMessageIdCodec(MEMORY_WAL_NAME, MemoryMessageId.unmarshal);
  checkKnownKeys('memoryAdapter', options, OPTION_KEYS);
  const { store: given, ...storeOptions } = options;
  if (given !== undefined && !(given instanceof MemoryLogStore)) {
    throw errors.invalidOption('memoryAdapter', 'store', 'a MemoryLogStore');
  }
  const beside = STORE_OPTION_KEYS.find((key) => storeOptions[key] !== undefined);
  if (given && beside) {
    throw errors.invalidOption(
      'memoryAdapter',
      beside,
      'passed to the MemoryLogStore, not alongside `store` (the store has its own limits and seed)',
    );
  }
  resolveStoreOptions('memoryAdapter', storeOptions);
  const store = given ?? new MemoryLogStore(storeOptions);
  return {
    name: MEMORY_WAL_NAME,
    capabilities: CAPABILITIES,
    store,
    async build(buildOptions?: BuildOptions): Promise<WalImplsOpener> {
      if (buildOptions?.signal?.aborted) throw abortError(buildOptions.signal, 'memory adapter build');
      const observability = (buildOptions?.observability ?? noObservability).child({
        adapter: MEMORY_WAL_NAME,
      });
      return new MemoryOpener(store, observability);
    },
  };
}

/** Hands out WALs over one store and closes them all when it closes. */
class MemoryOpener implements WalImplsOpener {
  readonly #store: MemoryLogStore;
  readonly #observability: Observability;
  readonly #wals = new Set<MemoryWal>();
  #closed: Promise<void> | undefined;

  constructor(store: MemoryLogStore, observability: Observability) {
    this.#store = store;
    this.#observability = observability;
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
    const logger = this.#observability.logger.child({
      pchannel: channel.name,
      term: channel.term.toString(),
    });
    const wal = new MemoryWal(log, channel, logger, (closed) => this.#wals.delete(closed));
    this.#wals.add(wal);
    logger.debug({ accessMode: channel.accessMode }, 'memory WAL opened');
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

declare module '@walstream/core' {
  interface RegisteredAdapters {
    /** Typed options for `registry.registerAdapter('memory', memoryAdapter)` and `createWal().adapter('memory', …)`. */
    memory: MemoryAdapterOptions | undefined;
  }
}
