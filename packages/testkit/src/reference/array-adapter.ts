/**
 * The reference adapter: a complete `walimpls` adapter over in-process arrays, the one
 * docs/write-an-adapter.md builds step by step. The testkit's self-tests run the whole walimpls suite
 * against it, so the guide is proven right. Keep the two in sync: each numbered section below is one
 * step of the guide.
 */
import {
  type DeliverPolicy,
  type ImmutableMessage,
  type MessageID,
  type MutableMessage,
  type PChannelInfo,
  WalError,
} from '@walstream/core';
import {
  type AppendOptions,
  abortError,
  assertPChannelInfo,
  assertSameWal,
  createRawScanner,
  type OpenOptions,
  type RawScanner,
  type ReadOptions,
  registerMessageIdCodec,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsOpener,
} from '@walstream/core/spi';

// 1. The MessageID: a position, ordered, marshalled to a string, registered by adapter name.

/** The adapter name: the `walName` of every id and WAL the array adapter makes. */
export const ARRAY_WAL_NAME = 'array';

export class ArrayId implements MessageID {
  readonly walName = ARRAY_WAL_NAME;
  constructor(readonly index: number) {}
  compare(other: MessageID): number {
    assertSameWal(this, other); // INVALID_MESSAGE_ID for another adapter's id
    return this.index - asArrayId(other).index;
  }
  marshal(): string {
    return String(this.index);
  }
  toString(): string {
    return `array:${this.index}`;
  }
}

/** `id` as an {@link ArrayId}; INVALID_MESSAGE_ID for an id of another adapter. */
export function asArrayId(id: MessageID): ArrayId {
  if (id?.walName !== ARRAY_WAL_NAME || !(id instanceof ArrayId)) {
    throw new WalError('INVALID_MESSAGE_ID', `not an array MessageID: ${String(id)}`);
  }
  return id;
}

registerMessageIdCodec(ARRAY_WAL_NAME, (text) => {
  const index = Number(text);
  // Digits only, and exact: a longer number would round to another index.
  if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(index))
    throw new Error(`not an array id: ${text}`);
  return new ArrayId(index);
});

// 2. The "backend": one log per pchannel, kept in a store that outlives builders.

/** One pchannel's entries, the highest RW term, and the readers parked at its end. */
export class ArrayLog {
  entries: ImmutableMessage[] = [];
  /** Index of entries[0]; grows when truncate drops entries. */
  base = 0;
  /** The highest term opened read-write: writers below it are fenced. */
  term = -1n;
  /** Entries readers took from this log (the conformance suite's `storeProbe` counts them). */
  fetched = 0;
  #waiters = new Set<() => void>();

  get end(): number {
    return this.base + this.entries.length;
  }

  at(index: number): ImmutableMessage | undefined {
    return this.entries[index - this.base];
  }

  push(message: MutableMessage): ArrayId {
    const id = new ArrayId(this.end);
    this.entries.push(message.intoImmutable(id));
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
    return id;
  }

  /** Resolves at the next append, or when `signal` aborts; never leaves a listener behind. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * What stands in for the store's servers or directory: the logs by pchannel name. Every builder given
 * the same store sees the same logs, as every process given the same brokers does.
 */
export class ArrayStore {
  readonly #logs = new Map<string, ArrayLog>();

  /** The log of pchannel `name`, created empty on first use. */
  log(name: string): ArrayLog {
    let log = this.#logs.get(name);
    if (log === undefined) {
      log = new ArrayLog();
      this.#logs.set(name, log);
    }
    return log;
  }
}

// 3. The builder (a name, capabilities, build() → opener) and the opener (validates the channel,
//    fences lower terms, closes what it opened).

export interface ArrayAdapterOptions {
  /** The logs to use; share one store between builders to let them see the same data. Default: a new one. */
  readonly store?: ArrayStore;
}

/** The array builder, with its store exposed for tests that look inside. */
export interface ArrayAdapter extends WalImplsBuilder {
  readonly store: ArrayStore;
}

export function arrayAdapter(options: ArrayAdapterOptions = {}): ArrayAdapter {
  const store = options.store ?? new ArrayStore();
  return {
    name: ARRAY_WAL_NAME,
    store,
    capabilities: { truncate: 'physical', fencing: true },
    async build() {
      return new ArrayOpener(store);
    },
  };
}

export class ArrayOpener implements WalImplsOpener {
  #closed = false;
  readonly #wals = new Set<ArrayWal>();
  constructor(private readonly store: ArrayStore) {}

  async open({ channel }: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw new WalError('CLOSED', 'the array opener is closed');
    assertPChannelInfo(channel); // INVALID_ARGUMENT for an empty name, a negative term, a bad mode
    const log = this.store.log(channel.name);
    if (channel.accessMode === 'rw' && channel.term > log.term) log.term = channel.term; // fences older terms
    const wal = new ArrayWal(log, channel, () => this.#wals.delete(wal));
    this.#wals.add(wal);
    return wal;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#wals].map((wal) => wal.close()));
  }

  [Symbol.asyncDispose] = () => this.close();
}

// 4. The WAL: append, truncate, read (a fetch loop inside createRawScanner), close.

export class ArrayWal implements WalImpls {
  readonly walName = ARRAY_WAL_NAME;
  #closed = false;
  readonly #scanners = new Set<RawScanner>();

  constructor(
    private readonly log: ArrayLog,
    readonly channel: PChannelInfo,
    private readonly onClose: () => void,
  ) {}

  async append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
    this.#checkWrite('append', options);
    return this.log.push(message); // stores message.intoImmutable(id): payload + every property
  }

  async truncate(id: MessageID, options?: AppendOptions): Promise<void> {
    this.#checkWrite('truncate', options);
    const drop = Math.min(asArrayId(id).index, this.log.end) - this.log.base;
    if (drop > 0) {
      this.log.entries.splice(0, drop);
      this.log.base += drop;
    }
  }

  async read(options: ReadOptions): Promise<RawScanner> {
    const name = this.channel.name;
    if (this.#closed) throw new WalError('CLOSED', `read on ${name}: the WAL is closed`);
    if (options.signal?.aborted) throw abortError(options.signal, `read on ${name}`);
    // Check every option before anything starts: a bad read must leave nothing behind.
    const size = options.readAheadBufferSize;
    if (size !== undefined && !(Number.isSafeInteger(size) && size >= 1)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `read on ${name}: readAheadBufferSize must be a positive integer, got ${String(size)}`,
      );
    }
    // The start is fixed before read() resolves: `latest` means "after what is there now".
    const start = this.#start(options.deliverPolicy);
    const log = this.log;
    const readSignal = options.signal;
    const onAbort = () => void scanner.close(); // aborting the read's signal closes the scanner
    const scanner = createRawScanner({
      name: options.name,
      ...(size === undefined ? {} : { readAheadBufferSize: size }),
      async fetch(sink, signal) {
        let next = start;
        while (!signal.aborted) {
          next = Math.max(next, log.base); // entries truncated under the reader are gone
          const entry = log.at(next);
          if (entry === undefined) {
            await log.changed(signal); // park until the next append (or close); no polling
            continue;
          }
          log.fetched++;
          if (!(await sink.push(entry))) return; // false: the scanner was closed meanwhile
          next++;
        }
      },
      release: () => {
        this.#scanners.delete(scanner);
        readSignal?.removeEventListener('abort', onAbort); // never leave a listener on the caller's signal
      },
    });
    this.#scanners.add(scanner);
    readSignal?.addEventListener('abort', onAbort, { once: true });
    return scanner;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#scanners].map((scanner) => scanner.close()));
    this.onClose();
  }

  [Symbol.asyncDispose] = () => this.close();

  #checkWrite(what: string, options: AppendOptions | undefined): void {
    const name = this.channel.name;
    if (this.channel.accessMode === 'ro')
      throw new WalError('READ_ONLY', `${what} on ${name}: opened read-only`);
    if (this.#closed) throw new WalError('CLOSED', `${what} on ${name}: the WAL is closed`);
    if (options?.signal?.aborted) throw abortError(options.signal, `${what} on ${name}`);
    if (this.channel.term < this.log.term) {
      throw new WalError(
        'CHANNEL_FENCED',
        `${what} on ${name}: term ${this.channel.term} fenced by ${this.log.term}`,
      );
    }
  }

  #start(policy: DeliverPolicy): number {
    switch (policy?.kind) {
      case 'all':
        return this.log.base;
      case 'latest':
        return this.log.end;
      case 'startFrom':
        return asArrayId(policy.id).index; // INVALID_MESSAGE_ID for another adapter's id
      case 'startAfter':
        return asArrayId(policy.id).index + 1;
      default:
        throw new WalError(
          'INVALID_ARGUMENT',
          `read on ${this.channel.name}: unknown deliver policy ${JSON.stringify(policy)}`,
        );
    }
  }
}
