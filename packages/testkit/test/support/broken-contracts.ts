/**
 * More deliberately broken adapters over the memory adapter, one bug each, for the SPI rules the suite
 * used to let through: positions, aliasing, aborted appends, hidden queues, fencing, signals, truncated
 * ids, closed WALs. Each says what it gets wrong; the self-tests name the case that must catch it.
 */
import { MemoryLogStore, MemoryMessageId, memoryAdapter } from '@walstream/adapter-memory';
import {
  DeliverPolicy,
  hasCode,
  type ImmutableMessage,
  type MessageID,
  type MutableMessage,
  WalError,
} from '@walstream/core';
import {
  abortError,
  type RawScanner,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsOpener,
} from '@walstream/core/spi';
import { transformScanner, wrapMemory } from './broken-adapters.js';

const offset = (id: MessageID) => (id as MemoryMessageId).offset;

/** Where a read with `policy` starts, as an offset (undefined for all and latest). */
function startOffset(policy: DeliverPolicy): number | undefined {
  if (policy.kind === 'startFrom') return offset(policy.id);
  if (policy.kind === 'startAfter') return offset(policy.id) + 1;
  return undefined;
}

/** Drops the first delivery of a reader that starts on a 32-entry page boundary (not the log's first page). */
export function skipsPageStartAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async read(wal, options) {
        const inner = await wal.read(options);
        const start = startOffset(options.deliverPolicy);
        if (start === undefined || start === 0 || start % 32 !== 0) return inner;
        return transformScanner(inner, options, async (next, push) => {
          await next(); // "the page header"
          for (let message = await next(); message !== undefined; message = await next()) {
            if (!(await push(message))) return;
          }
        });
      },
    },
    store,
  );
}

/** startAfter(the log's last id) seeks to id + 1, finds it past the end and clamps to the last entry. */
export function startAfterLastRedeliversAdapter(
  store: MemoryLogStore = new MemoryLogStore(),
): WalImplsBuilder {
  return wrapMemory(
    {
      read(wal, options) {
        const policy = options.deliverPolicy;
        const end = store.stats(wal.channel.name).nextOffset;
        if (policy.kind === 'startAfter' && offset(policy.id) + 1 >= end) {
          return wal.read({
            ...options,
            deliverPolicy: DeliverPolicy.startFrom(new MemoryMessageId(end - 1)),
          });
        }
        return wal.read(options);
      },
    },
    store,
  );
}

/**
 * Keeps the caller's MutableMessage and builds what readers get from it on delivery (a cache of written
 * messages for tailing readers): a change the caller makes after the append shows up in the log.
 */
export function aliasingAdapter(store?: MemoryLogStore): WalImplsBuilder {
  const live = new Map<string, MutableMessage>();
  const key = (channel: string, id: MessageID) => `${channel}@${offset(id)}`;
  return wrapMemory(
    {
      async append(wal, message, options) {
        const id = await wal.append(message, options);
        live.set(key(wal.channel.name, id), message);
        return id;
      },
      async read(wal, options) {
        const inner = await wal.read(options);
        return transformScanner(inner, options, async (next, push) => {
          for (let message = await next(); message !== undefined; message = await next()) {
            const kept = live.get(key(wal.channel.name, message.id));
            if (!(await push(kept ? kept.intoImmutable(message.id) : message))) return;
          }
        });
      },
    },
    store,
  );
}

/** Writes first and looks at the signal afterwards: an aborted append lands and is rejected ABORTED. */
export function abortsAfterWritingAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async append(wal, message, options) {
        const id = await wal.append(message);
        if (options?.signal?.aborted) throw abortError(options.signal, 'append');
        return id;
      },
    },
    store,
  );
}

/** Counts, per pchannel, what the wrapping readers pulled from the memory store: a store probe. */
export type Pulls = Map<string, number>;

function counted(pulls: Pulls, channel: string, next: () => Promise<ImmutableMessage | undefined>) {
  return async () => {
    const message = await next();
    if (message !== undefined) pulls.set(channel, (pulls.get(channel) ?? 0) + 1);
    return message;
  };
}

/** A correct reader that counts its pulls: the control for {@link hiddenQueueAdapter}. */
export function countingAdapter(pulls: Pulls, store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async read(wal, options) {
        const inner = await wal.read(options);
        return transformScanner(inner, options, async (next, push) => {
          const pull = counted(pulls, wal.channel.name, next);
          for (let message = await pull(); message !== undefined; message = await pull()) {
            if (!(await push(message))) return;
          }
        });
      },
    },
    store,
  );
}

/**
 * Pumps the store into an unbounded queue of its own, and reports `buffered` as at most the read-ahead
 * size: every check of `scanner.buffered` passes.
 */
export function hiddenQueueAdapter(pulls: Pulls, store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      async read(wal, options) {
        const inner = await wal.read(options);
        const pull = counted(pulls, wal.channel.name, async () => {
          const result = await inner[Symbol.asyncIterator]().next();
          return result.done ? undefined : result.value;
        });
        const size = options.readAheadBufferSize ?? 128;
        const queue: ImmutableMessage[] = [];
        let wake: (() => void) | undefined;
        let ended = false;
        const pump = (async () => {
          for (let message = await pull(); message !== undefined; message = await pull()) {
            queue.push(message);
            wake?.();
          }
          ended = true;
          wake?.();
        })();
        const close = async () => {
          ended = true;
          queue.length = 0;
          wake?.();
          await inner.close();
          await pump;
        };
        const scanner: RawScanner = {
          name: options.name,
          get buffered() {
            return Math.min(queue.length, size);
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
        return scanner;
      },
    },
    store,
  );
}

/**
 * A stale writer's first append lands and is rejected UNAVAILABLE (the broker took the write, the fence
 * showed at commit and was reported as a passing fault); later ones are rejected CHANNEL_FENCED.
 */
export function staleWriteLandsAdapter(store: MemoryLogStore = new MemoryLogStore()): WalImplsBuilder {
  let side: Promise<WalImplsOpener> | undefined;
  const slipped = new WeakSet<WalImpls>();
  return wrapMemory(
    {
      async append(wal, message, options) {
        const name = wal.channel.name;
        const highest = store.highestTerm(name);
        if (wal.channel.term < highest && !slipped.has(wal)) {
          slipped.add(wal);
          side ??= memoryAdapter({ store }).build();
          const writer = await (await side).open({ channel: { name, term: highest, accessMode: 'rw' } });
          await writer.append(message);
          await writer.close();
          throw new WalError('UNAVAILABLE', `append to ${name}: the write was not committed`);
        }
        return wal.append(message, options);
      },
    },
    store,
  );
}

/**
 * Declares no fencing, and a writer of an older term than the newest RW open gets an id for its append
 * while nothing is written (a stale producer's transaction aborted after its send resolved).
 */
export function dropsStaleAppendsAdapter(store: MemoryLogStore = new MemoryLogStore()): WalImplsBuilder {
  const newest = new Map<string, bigint>();
  const terms = new WeakMap<WalImpls, bigint>();
  return wrapMemory(
    {
      capabilities: { truncate: 'physical', fencing: false },
      async open(opener, options) {
        const { name, term, accessMode } = options.channel;
        if (term < 0n) return opener.open(options);
        if (accessMode === 'rw' && term > (newest.get(name) ?? -1n)) newest.set(name, term);
        // Underneath, every writer has term 0: the memory store fences nobody.
        const wal = await opener.open({ ...options, channel: { ...options.channel, term: 0n } });
        terms.set(wal, term);
        return wal;
      },
      async append(wal, message, options) {
        const name = wal.channel.name;
        if ((terms.get(wal) ?? 0n) < (newest.get(name) ?? -1n)) {
          return new MemoryMessageId(store.stats(name).nextOffset);
        }
        return wal.append(message, options);
      },
    },
    store,
  );
}

/** Ignores the read's AbortSignal: aborting it leaves the scanner running. */
export function ignoresReadSignalAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      read(wal, options) {
        const { signal: _ignored, ...rest } = options;
        return wal.read(rest);
      },
    },
    store,
  );
}

/** Refuses to start a reader at a truncated id (INVALID_ARGUMENT) instead of at the first entry kept. */
export function refusesTruncatedStartAdapter(store: MemoryLogStore = new MemoryLogStore()): WalImplsBuilder {
  return wrapMemory(
    {
      read(wal, options) {
        const start = startOffset(options.deliverPolicy);
        const first = store.stats(wal.channel.name).firstOffset;
        if (start !== undefined && start < first) {
          return Promise.reject(
            new WalError(
              'INVALID_ARGUMENT',
              `read at offset ${start}: outside the log (truncated before ${first})`,
            ),
          );
        }
        return wal.read(options);
      },
    },
    store,
  );
}

/**
 * `close()` only marks the WAL closed; an append that was already past its first check writes and then
 * notices (the check after the await): append on a closed WAL lands and is rejected CLOSED.
 */
export function writesAfterCloseAdapter(store?: MemoryLogStore): WalImplsBuilder {
  const builder = wrapMemory({}, store);
  return {
    ...builder,
    async build(options) {
      const opener = await builder.build(options);
      return {
        async open(openOptions) {
          const wal = await opener.open(openOptions);
          let closed = false;
          const refuse = (what: string) => new WalError('CLOSED', `${what}: the WAL is closed`);
          const wrapped: WalImpls = {
            walName: wal.walName,
            channel: wal.channel,
            async append(message, o) {
              const id = await wal.append(message, o);
              if (closed) throw refuse('append');
              return id;
            },
            async truncate(id, o) {
              if (closed) throw refuse('truncate');
              return wal.truncate(id, o);
            },
            async read(o) {
              if (closed) throw refuse('read');
              return wal.read(o);
            },
            async close() {
              closed = true;
            },
            [Symbol.asyncDispose]: async () => {
              closed = true;
            },
          };
          return wrapped;
        },
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}

/** Passes property values through a C string: a value is cut at its first NUL character. */
export function cutsAtNulAdapter(store?: MemoryLogStore): WalImplsBuilder {
  return wrapMemory(
    {
      append(wal, message, options) {
        for (const [key, value] of Object.entries(message.properties)) {
          const nul = value.indexOf('\u0000');
          if (nul >= 0) message = message.clone().withProperty(key, value.slice(0, nul));
        }
        return wal.append(message, options);
      },
    },
    store,
  );
}

/**
 * Fenced appends reject UNAVAILABLE (retriable, outcome not said) instead of CHANNEL_FENCED: nothing of
 * them lands, but a caller that retries while `retriable` keeps writing to a writer that can never write
 * again (what the Pulsar adapter answered for sends in flight when the broker evicted its producer).
 */
export function fencedAsUnavailableAdapter(store: MemoryLogStore = new MemoryLogStore()): WalImplsBuilder {
  return wrapMemory(
    {
      async append(wal, message, options) {
        try {
          return await wal.append(message, options);
        } catch (error) {
          if (!hasCode(error, 'CHANNEL_FENCED')) throw error;
          throw new WalError('UNAVAILABLE', `append to ${wal.channel.name}: connection closed`);
        }
      },
    },
    store,
  );
}

/**
 * Each append's answer comes a moment after it was written; if a newer term opened meanwhile, the answer
 * is CHANNEL_FENCED although the append is in the log (what the Kafka adapter answered for a committed
 * transaction once it learned it was fenced).
 */
export function fencedAfterLandingAdapter(store: MemoryLogStore = new MemoryLogStore()): WalImplsBuilder {
  return wrapMemory(
    {
      async append(wal, message, options) {
        const id = await wal.append(message, options);
        const term = wal.channel.term;
        const deadline = Date.now() + 200;
        while (store.highestTerm(wal.channel.name) <= term && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        if (store.highestTerm(wal.channel.name) > term) {
          throw new WalError('CHANNEL_FENCED', `pchannel ${wal.channel.name} is fenced`, {
            retriable: false,
          });
        }
        return id;
      },
    },
    store,
  );
}
