/**
 * Deliberately broken adapters, each wrapping the memory adapter with one bug an adapter author could
 * plausibly write. The self-tests check that the suite catches every one of them.
 */
import { type FaultConfig, type MemoryAdapter, memoryAdapter } from '@walstream/adapter-memory';
import { DeliverPolicy, type ImmutableMessage, type MessageID, MutableMessage } from '@walstream/core';
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
interface Shared {
  /** The last id appended per pchannel through any WAL of the builder. */
  readonly lastAppended: Map<string, MessageID>;
}

interface Hooks {
  readonly capabilities?: WalImplsCapabilities;
  open?(opener: WalImplsOpener, options: OpenOptions): Promise<WalImpls>;
  read?(wal: WalImpls, options: ReadOptions, shared: Shared): Promise<RawScanner>;
  append?(wal: WalImpls, message: MutableMessage, options: AppendOptions | undefined): Promise<MessageID>;
}

function wrapMemory(hooks: Hooks): WalImplsBuilder {
  const inner = memoryAdapter();
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
    read: (options) => (hooks.read ? hooks.read(wal, options, shared) : wal.read(options)),
    close: () => wal.close(),
    [Symbol.asyncDispose]: () => wal.close(),
  };
}

/**
 * A scanner over `inner` whose fetch loop is `transform`: it pulls from `inner` and pushes what it likes.
 * Closing it closes `inner`.
 */
function transformScanner(
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
export function reorderingAdapter(): WalImplsBuilder {
  return wrapMemory({
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
  });
}

/** Treats startAfter(id) like startFrom(id): the resume point is delivered again. */
export function ignoresStartAfterAdapter(): WalImplsBuilder {
  return wrapMemory({
    read(wal, options) {
      const policy = options.deliverPolicy;
      return wal.read(
        policy.kind === 'startAfter'
          ? { ...options, deliverPolicy: DeliverPolicy.startFrom(policy.id) }
          : options,
      );
    },
  });
}

/** Never delivers the message that was last in the log when the read started (an exclusive end bound). */
export function losesLastMessageAdapter(): WalImplsBuilder {
  return wrapMemory({
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
  });
}

/** Pumps the store into an unbounded queue, whatever readAheadBufferSize says. */
export function unboundedReadAheadAdapter(): WalImplsBuilder {
  return wrapMemory({
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
  });
}

/** Stores the payload through a UTF-8 string, so bytes that are not UTF-8 come back as U+FFFD. */
export function utf8PayloadAdapter(): WalImplsBuilder {
  return wrapMemory({
    append(wal, message, options) {
      const text = new TextDecoder().decode(message.payload);
      return wal.append(new MutableMessage(new TextEncoder().encode(text), message.properties), options);
    },
  });
}

/** Drops properties whose value is the empty string (a header encoder that skips empty values). */
export function dropsEmptyPropertiesAdapter(): WalImplsBuilder {
  return wrapMemory({
    append(wal, message, options) {
      const kept = Object.fromEntries(Object.entries(message.properties).filter(([, value]) => value !== ''));
      return wal.append(new MutableMessage(message.payload, kept), options);
    },
  });
}

/** Declares fencing but opens every term underneath as term 0, so nothing is ever fenced. */
export function nonFencingAdapter(capabilities?: WalImplsCapabilities): WalImplsBuilder {
  return wrapMemory({
    ...(capabilities ? { capabilities } : {}),
    // Bad terms still reach the store so they are still rejected; only the fencing is lost.
    open: (opener, options) =>
      opener.open(
        options.channel.term < 0n ? options : { ...options, channel: { ...options.channel, term: 0n } },
      ),
  });
}

/** A scanner that never delivers anything: the suite must fail on time, not hang. */
export function silentScannerAdapter(): WalImplsBuilder {
  return wrapMemory({
    async read(wal, options) {
      const inner = await wal.read(options);
      return transformScanner(inner, options, async () => {
        await inner.done;
      });
    },
  });
}

/** WAL close() rejects: the suite's cleanup must report it. */
export function failingCloseAdapter(): WalImplsBuilder {
  const builder = wrapMemory({});
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
export function leaksAbortListenersAdapter(): WalImplsBuilder {
  return wrapMemory({
    append(wal, message, options) {
      options?.signal?.addEventListener('abort', () => {});
      return wal.append(message, options);
    },
  });
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
