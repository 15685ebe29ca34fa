/**
 * The adapter that docs/write-an-adapter.md builds step by step, kept here so the suite proves the guide
 * right. Keep the two in sync.
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
const ARRAY = 'array';

class ArrayId implements MessageID {
  readonly walName = ARRAY;
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

function asArrayId(id: MessageID): ArrayId {
  if (id.walName !== ARRAY || !(id instanceof ArrayId)) {
    throw new WalError('INVALID_MESSAGE_ID', `not an array MessageID: ${String(id)}`);
  }
  return id;
}

registerMessageIdCodec(ARRAY, (text) => {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new Error(`not an array id: ${text}`);
  return new ArrayId(Number(text));
});

// 2. The "backend": one log per pchannel, shared by every opener of one builder.
class ArrayLog {
  entries: ImmutableMessage[] = [];
  /** Index of entries[0]; grows when truncate drops entries. */
  base = 0;
  /** The highest term opened read-write: writers below it are fenced. */
  term = -1n;
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

// 3. The builder: a name, capabilities, and build() → opener.
export function arrayAdapter(): WalImplsBuilder {
  const logs = new Map<string, ArrayLog>();
  return {
    name: ARRAY,
    capabilities: { truncate: 'physical', fencing: true },
    async build() {
      return new ArrayOpener(logs);
    },
  };
}

// 4. The opener: validates the channel, fences lower terms, closes what it opened.
class ArrayOpener implements WalImplsOpener {
  #closed = false;
  readonly #wals = new Set<ArrayWal>();
  constructor(private readonly logs: Map<string, ArrayLog>) {}

  async open({ channel }: OpenOptions): Promise<WalImpls> {
    if (this.#closed) throw new WalError('CLOSED', 'the array opener is closed');
    assertPChannelInfo(channel); // INVALID_ARGUMENT for an empty name, a negative term, a bad mode
    const log = this.logs.get(channel.name) ?? new ArrayLog();
    this.logs.set(channel.name, log);
    if (channel.accessMode === 'rw' && channel.term > log.term) log.term = channel.term;
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

// 5. The WAL: append, truncate, read, close.
class ArrayWal implements WalImpls {
  readonly walName = ARRAY;
  #closed = false;
  readonly #scanners = new Set<RawScanner>();

  constructor(
    private readonly log: ArrayLog,
    readonly channel: PChannelInfo,
    private readonly onClose: () => void,
  ) {}

  async append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
    this.#checkWrite('append', options);
    return this.log.push(message);
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
    if (this.#closed) throw new WalError('CLOSED', `${this.channel.name}: the WAL is closed`);
    if (options.signal?.aborted) throw abortError(options.signal, 'read');
    // The start is fixed before read() resolves: `latest` means "after what is there now".
    const start = this.#start(options.deliverPolicy);
    const log = this.log;
    const scanner = createRawScanner({
      name: options.name,
      ...(options.readAheadBufferSize ? { readAheadBufferSize: options.readAheadBufferSize } : {}),
      async fetch(sink, signal) {
        let next = start;
        while (!signal.aborted) {
          next = Math.max(next, log.base); // entries truncated under the reader are gone
          const entry = log.at(next);
          if (entry === undefined) {
            await log.changed(signal);
            continue;
          }
          if (!(await sink.push(entry))) return; // false: the scanner was closed
          next++;
        }
      },
      release: () => {
        this.#scanners.delete(scanner);
      },
    });
    this.#scanners.add(scanner);
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
    switch (policy.kind) {
      case 'all':
        return this.log.base;
      case 'latest':
        return this.log.end;
      case 'startFrom':
        return asArrayId(policy.id).index;
      case 'startAfter':
        return asArrayId(policy.id).index + 1;
    }
  }
}
