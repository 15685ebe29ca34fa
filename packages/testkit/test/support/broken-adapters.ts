/**
 * Deliberately broken adapters, each wrapping the memory adapter with one bug an adapter author could
 * plausibly write. The self-tests check that the suite catches every one of them.
 */
import {
  type FaultConfig,
  type MemoryAdapter,
  MemoryLogStore,
  memoryAdapter,
} from '@walstream/adapter-memory';
import {
  DeliverPolicy,
  type ImmutableMessage,
  type MessageID,
  MutableMessage,
  WalError,
} from '@walstream/core';
import {
  type AppendOptions,
  createRawScanner,
  type OpenOptions,
  type RawScanner,
  type ReadOptions,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsCapabilities,
  type WalImplsOpener,
} from '@walstream/core/spi';

/** What a wrapper knows across the openers of one builder (they share the memory store). */
export interface Shared {
  /** The last id appended per pchannel through any WAL of the builder. */
  readonly lastAppended: Map<string, MessageID>;
}

export interface Hooks {
  readonly capabilities?: WalImplsCapabilities;
  /**
   * Whether the wrapper refuses a readAheadBufferSize that is not a positive integer before any hook
   * runs (default true), as a conforming adapter does: each wrapper then has only its own bug, whatever
   * the memory adapter underneath does with such a size.
   */
  readonly checksReadAhead?: boolean;
  open?(opener: WalImplsOpener, options: OpenOptions): Promise<WalImpls>;
  read?(wal: WalImpls, options: ReadOptions, shared: Shared): Promise<RawScanner>;
  append?(wal: WalImpls, message: MutableMessage, options: AppendOptions | undefined): Promise<MessageID>;
}

/**
 * The memory adapter over `store` with `hooks` in its path. Builders given one store see the same logs,
 * as the suite's reopen cases need; the default is a store of the builder's own.
 */
export function wrapMemory(hooks: Hooks, store = new MemoryLogStore()): WalImplsBuilder {
  const inner = memoryAdapter({ store });
  const shared: Shared = { lastAppended: new Map() };
  return {
    name: inner.name,
    capabilities: hooks.capabilities ?? inner.capabilities,
    async build(options) {
      const opener = await inner.build(options);
      return {
        async open(openOptions) {
          const wal = await (hooks.open ? hooks.open(opener, openOptions) : opener.open(openOptions));
          return wrapWal(wal, openOptions, hooks, shared);
        },
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}

function wrapWal(wal: WalImpls, opened: OpenOptions, hooks: Hooks, shared: Shared): WalImpls {
  return {
    walName: wal.walName,
    // Echo what was asked for, even when a hook opened something else underneath.
    channel: opened.channel,
    async append(message, options) {
      const id = await (hooks.append ? hooks.append(wal, message, options) : wal.append(message, options));
      const last = shared.lastAppended.get(wal.channel.name);
      if (!last || last.compare(id) < 0) shared.lastAppended.set(wal.channel.name, id);
      return id;
    },
    truncate: (id, options) => wal.truncate(id, options),
    async read(options) {
      const size = options.readAheadBufferSize;
      if (
        hooks.checksReadAhead !== false &&
        size !== undefined &&
        !(Number.isSafeInteger(size) && size >= 1)
      ) {
        throw new WalError('INVALID_ARGUMENT', `readAheadBufferSize must be a positive integer, got ${size}`);
      }
      return hooks.read ? hooks.read(wal, options, shared) : wal.read(options);
    },
    close: () => wal.close(),
    [Symbol.asyncDispose]: () => wal.close(),
  };
}

/**
 * A scanner over `inner` whose fetch loop is `transform`: it pulls from `inner` and pushes what it likes.
 * Closing it closes `inner`.
 */
export function transformScanner(
  inner: RawScanner,
  options: ReadOptions,
  transform: (
    next: () => Promise<ImmutableMessage | undefined>,
    push: (m: ImmutableMessage) => Promise<boolean>,
  ) => Promise<void>,
): RawScanner {
  return createRawScanner({
    name: options.name,
    ...(options.readAheadBufferSize === undefined
      ? {}
      : { readAheadBufferSize: options.readAheadBufferSize }),
    async fetch(sink, signal) {
      const stop = () => void inner.close();
      signal.addEventListener('abort', stop, { once: true });
      const iterator = inner[Symbol.asyncIterator]();
      await transform(
        async () => {
          const result = await iterator.next();
          return result.done ? undefined : result.value;
        },
        (message) => sink.push(message),
      );
    },
    release: () => inner.close(),
  });
}

const IDLE = Symbol('idle');

/** Delivers the 2nd and 3rd message of every read swapped (the 2nd goes alone if no 3rd comes soon). */
export function reorderingAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async read(wal, options) {
        const inner = await wal.read(options);
        return transformScanner(inner, options, async (next, push) => {
          let index = 0;
          let held: ImmutableMessage | undefined;
          for (;;) {
            const pending = next();
            let message: ImmutableMessage | undefined;
            if (held) {
              const raced = await Promise.race([
                pending,
                new Promise<typeof IDLE>((r) => setTimeout(r, 20, IDLE)),
              ]);
              if (raced === IDLE) {
                if (!(await push(held))) return;
                held = undefined;
                message = await pending;
              } else message = raced;
            } else message = await pending;
            if (message === undefined) return;
            if (index++ === 1) {
              held = message;
              continue;
            }
            if (!(await push(message))) return;
            if (held && !(await push(held))) return;
            held = undefined;
          }
        });
      },
    },
    store,
  );
}

/** Treats startAfter(id) like startFrom(id): the resume point is delivered again. */
export function ignoresStartAfterAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      read(wal, options) {
        const policy = options.deliverPolicy;
        return wal.read(
          policy.kind === 'startAfter'
            ? { ...options, deliverPolicy: DeliverPolicy.startFrom(policy.id) }
            : options,
        );
      },
    },
    store,
  );
}

/** Never delivers the message that was last in the log when the read started (an exclusive end bound). */
export function losesLastMessageAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async read(wal, options, shared) {
        const last = shared.lastAppended.get(wal.channel.name);
        const inner = await wal.read(options);
        return transformScanner(inner, options, async (next, push) => {
          for (let message = await next(); message !== undefined; message = await next()) {
            if (last !== undefined && message.id.compare(last) === 0) continue;
            if (!(await push(message))) return;
          }
        });
      },
    },
    store,
  );
}

/** Pumps the store into an unbounded queue, whatever readAheadBufferSize says. */
export function unboundedReadAheadAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async read(wal, options) {
        const inner = await wal.read(options);
        const queue: ImmutableMessage[] = [];
        let wake: (() => void) | undefined;
        let ended = false;
        const pump = (async () => {
          for await (const message of inner) {
            queue.push(message);
            wake?.();
          }
          ended = true;
          wake?.();
        })();
        const close = async () => {
          ended = true;
          wake?.();
          await inner.close();
          await pump;
        };
        return {
          name: options.name,
          get buffered() {
            return queue.length;
          },
          done: inner.done,
          close,
          [Symbol.asyncDispose]: close,
          [Symbol.asyncIterator]: () => ({
            async next(): Promise<IteratorResult<ImmutableMessage, undefined>> {
              for (;;) {
                const message = queue.shift();
                if (message) return { value: message, done: false };
                if (ended) return { value: undefined, done: true };
                await new Promise<void>((resolve) => {
                  wake = resolve;
                });
              }
            },
            async return() {
              await close();
              return { value: undefined, done: true };
            },
          }),
        };
      },
    },
    store,
  );
}

/** Stores the payload through a UTF-8 string, so bytes that are not UTF-8 come back as U+FFFD. */
export function utf8PayloadAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      append(wal, message, options) {
        const text = new TextDecoder().decode(message.payload);
        return wal.append(new MutableMessage(new TextEncoder().encode(text), message.properties), options);
      },
    },
    store,
  );
}

/** Drops properties whose value is the empty string (a header encoder that skips empty values). */
export function dropsEmptyPropertiesAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      append(wal, message, options) {
        const kept = Object.fromEntries(
          Object.entries(message.properties).filter(([, value]) => value !== ''),
        );
        return wal.append(new MutableMessage(message.payload, kept), options);
      },
    },
    store,
  );
}

/**
 * Reads with the default read-ahead when readAheadBufferSize is not a positive integer, instead of
 * refusing it (the `size ? { readAheadBufferSize: size } : {}` habit).
 */
export function acceptsAnyReadAheadAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      checksReadAhead: false,
      read(wal, options) {
        const size = options.readAheadBufferSize;
        const usable = size !== undefined && Number.isSafeInteger(size) && size >= 1;
        return wal.read({
          name: options.name,
          deliverPolicy: options.deliverPolicy,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
          ...(usable ? { readAheadBufferSize: size } : {}),
        });
      },
    },
    store,
  );
}

/** Declares fencing but opens every term underneath as term 0, so nothing is ever fenced. */
export function nonFencingAdapter(
  store?: MemoryLogStore,
  capabilities?: WalImplsCapabilities,
): WalImplsBuilder {
  return wrapMemory(
    {
      ...(capabilities ? { capabilities } : {}),
      // Bad terms still reach the store so they are still rejected; only the fencing is lost.
      open: (opener, options) =>
        opener.open(
          options.channel.term < 0n ? options : { ...options, channel: { ...options.channel, term: 0n } },
        ),
    },
    store,
  );
}

/** A scanner that never delivers anything: the suite must fail on time, not hang. */
export function silentScannerAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async read(wal, options) {
        const inner = await wal.read(options);
        return transformScanner(inner, options, async () => {
          await inner.done;
        });
      },
    },
    store,
  );
}

/** WAL close() rejects: the suite's cleanup must report it. */
export function failingCloseAdapter(store?: MemoryLogStore): WalImplsBuilder {
  const builder = wrapMemory({}, store);
  return {
    ...builder,
    async build(options) {
      const opener = await builder.build(options);
      return {
        ...opener,
        open: async (openOptions) => {
          const wal = await opener.open(openOptions);
          return {
            ...wal,
            channel: wal.channel,
            walName: wal.walName,
            append: (m, o) => wal.append(m, o),
            truncate: (id, o) => wal.truncate(id, o),
            read: (o) => wal.read(o),
            close: async () => {
              await wal.close();
              throw new Error('close failed on purpose');
            },
            [Symbol.asyncDispose]: () => wal.close(),
          };
        },
        close: () => opener.close(),
      };
    },
  };
}

/** Adds an abort listener to every append's signal and never removes it. */
export function leaksAbortListenersAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      append(wal, message, options) {
        options?.signal?.addEventListener('abort', () => {});
        return wal.append(message, options);
      },
    },
    store,
  );
}

/** The memory adapter with `faults` set on each pchannel as it is opened. */
export function faultyMemoryAdapter(faults: FaultConfig): MemoryAdapter {
  const adapter = memoryAdapter();
  return {
    ...adapter,
    async build(options) {
      const opener = await adapter.build(options);
      return {
        open(openOptions) {
          if (openOptions.channel.name) adapter.store.faults(openOptions.channel.name).set(faults);
          return opener.open(openOptions);
        },
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}

/**
 * What a file-backed adapter keeps on "disk": one record per append, per pchannel. Shared by the builders
 * of one run, as a directory is shared by the processes that open it.
 */
export type Disk = Map<string, string[]>;

/** A record format with a bug: properties joined with `;` and `=`, which keys and values may contain. */
function encodeRecord(message: MutableMessage): string {
  const properties = Object.entries(message.properties).map(([key, value]) => `${key}=${value}`);
  return `${Buffer.from(message.payload).toString('base64')}|${properties.join(';')}`;
}

function decodeRecord(record: string): MutableMessage {
  const bar = record.indexOf('|');
  const properties: Record<string, string> = {};
  for (const pair of record.slice(bar + 1).split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) properties[pair] = '';
    else properties[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return new MutableMessage(new Uint8Array(Buffer.from(record.slice(0, bar), 'base64')), properties);
}

/**
 * Writes every append through to `disk` in a broken record format, but serves reads from a cache of its
 * own: the memory store of the builder. A pchannel the builder has not seen is loaded from disk when it
 * is opened. (Nor does it write truncations to disk.) Every case that reads through the builder that wrote
 * sees exactly what was written; a fresh builder reads the records back mangled.
 */
export function diskCachingAdapter(disk: Disk): WalImplsBuilder {
  const loaded = new Set<string>();
  return wrapMemory({
    async open(opener, options) {
      const { name, term } = options.channel;
      const records = disk.get(name) ?? [];
      if (!loaded.has(name) && records.length > 0) {
        const loader = await opener.open({ channel: { name, term, accessMode: 'rw' } });
        for (const record of records) await loader.append(decodeRecord(record));
        await loader.close();
      }
      loaded.add(name);
      return opener.open(options);
    },
    async append(wal, message, options) {
      const id = await wal.append(message, options);
      const records = disk.get(wal.channel.name) ?? [];
      records.push(encodeRecord(message));
      disk.set(wal.channel.name, records);
      return id;
    },
  });
}
