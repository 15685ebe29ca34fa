/**
 * Adapters whose MessageIDs are broken in one way each, over the memory adapter: the memory offsets are
 * wrapped in an id class of the adapter's own, with a walName and codec of its own. Everything else is
 * the memory adapter's, so only the id checks can tell these adapters from a good one.
 */
import { MemoryLogStore, MemoryMessageId, memoryAdapter } from '@walstream/adapter-memory';
import { DeliverPolicy, ImmutableMessage, type MessageID, WalError } from '@walstream/core';
import {
  assertSameWal,
  registerMessageIdCodec,
  type WalImpls,
  type WalImplsBuilder,
} from '@walstream/core/spi';
import type { MessageIdSpace } from '../../src/index.js';
import { transformScanner } from './broken-adapters.js';

/** How one flavour of id behaves: everything an id class decides. */
interface Flavour {
  readonly walName: string;
  /** `this` minus `other`, as the flavour's compare sees it (a correct one: the plain difference). */
  compare(offset: number, other: number): number;
  marshal(offset: number): string;
  /** Decodes `marshal`'s output back to an offset. */
  unmarshal(text: string): number;
}

/** An id of a flavour: an offset, compared and marshalled the flavour's way. */
class FlavouredId implements MessageID {
  constructor(
    readonly flavour: Flavour,
    readonly offset: number,
  ) {}
  get walName(): string {
    return this.flavour.walName;
  }
  compare(other: MessageID): number {
    assertSameWal(this, other);
    return this.flavour.compare(this.offset, offsetOf(this.flavour, other));
  }
  marshal(): string {
    return this.flavour.marshal(this.offset);
  }
  toString(): string {
    return `${this.walName}:${this.offset}`;
  }
}

function offsetOf(flavour: Flavour, id: MessageID): number {
  if (id?.walName !== flavour.walName || !(id instanceof FlavouredId)) {
    throw new WalError('INVALID_MESSAGE_ID', `not a ${flavour.walName} id: ${String(id)}`);
  }
  return id.offset;
}

const decimal = (offset: number) => String(offset);
const fromDecimal = (text: string) => {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new Error(`not an offset: ${text}`);
  return Number(text);
};

function flavour(walName: string, overrides: Partial<Omit<Flavour, 'walName'>>): Flavour {
  const made: Flavour = {
    walName,
    compare: (a, b) => a - b,
    marshal: decimal,
    unmarshal: fromDecimal,
    ...overrides,
  };
  registerMessageIdCodec(walName, (text) => new FlavouredId(made, made.unmarshal(text)));
  return made;
}

/** Ids done right: the control, so the wrapper itself is known to pass. */
export const soundIds = flavour('ids-sound', {});

/** `compare` computes the difference in a 10-bit field: it wraps for differences of 512 or more. */
export const wrappingCompareIds = flavour('ids-wrapping', {
  compare: (a, b) => ((a - b) << 22) >> 22,
});

/** `compare` answers "before" for a later id whose distance is a multiple of 3: not antisymmetric. */
export const notAntisymmetricIds = flavour('ids-not-antisymmetric', {
  compare: (a, b) => {
    const d = a - b;
    return d > 0 && d % 3 === 0 ? -1 : d;
  },
});

/** `compare` is right for neighbours and backwards for everything further apart. */
export const neighboursOnlyIds = flavour('ids-neighbours-only', {
  compare: (a, b) => {
    const d = a - b;
    return Math.abs(d) <= 1 ? d : -d;
  },
});

/** `marshal` packs the offset into three bytes (base64): offsets of 2^24 and beyond lose their top bits. */
export const threeByteMarshalIds = flavour('ids-three-bytes', {
  marshal: (offset) =>
    Buffer.from([(offset >> 16) & 0xff, (offset >> 8) & 0xff, offset & 0xff]).toString('base64'),
  unmarshal: (text) => {
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length !== 3) throw new Error(`not an id: ${text}`);
    return (bytes[0]! << 16) | (bytes[1]! << 8) | bytes[2]!;
  },
});

/** The `messageIds` option for a flavour: every offset a memory id can have. */
export function idSpaceOf(ids: Flavour): MessageIdSpace {
  return { max: BigInt(Number.MAX_SAFE_INTEGER), at: (position) => new FlavouredId(ids, Number(position)) };
}

/** The memory adapter over `store` with its ids in the flavour `ids`. */
export function flavouredIdsAdapter(ids: Flavour, store = new MemoryLogStore()): WalImplsBuilder {
  const inner = memoryAdapter({ store });
  const toMemory = (id: MessageID) => new MemoryMessageId(offsetOf(ids, id));
  const toFlavour = (id: MessageID) => new FlavouredId(ids, (id as MemoryMessageId).offset);
  const policy = (p: DeliverPolicy): DeliverPolicy =>
    p?.kind === 'startFrom'
      ? DeliverPolicy.startFrom(toMemory(p.id))
      : p?.kind === 'startAfter'
        ? DeliverPolicy.startAfter(toMemory(p.id))
        : p;
  return {
    name: ids.walName,
    capabilities: inner.capabilities,
    async build(options) {
      const opener = await inner.build(options);
      return {
        async open(openOptions) {
          const wal = await opener.open(openOptions);
          const wrapped: WalImpls = {
            walName: ids.walName,
            channel: wal.channel,
            append: async (message, o) => toFlavour(await wal.append(message, o)),
            truncate: (id, o) => wal.truncate(toMemory(id), o),
            async read(readOptions) {
              const scanner = await wal.read({
                ...readOptions,
                deliverPolicy: policy(readOptions.deliverPolicy),
              });
              return transformScanner(scanner, readOptions, async (next, push) => {
                for (let message = await next(); message !== undefined; message = await next()) {
                  const renamed = new ImmutableMessage(
                    toFlavour(message.id),
                    message.payload,
                    message.properties,
                  );
                  if (!(await push(renamed))) return;
                }
              });
            },
            close: () => wal.close(),
            [Symbol.asyncDispose]: () => wal.close(),
          };
          return wrapped;
        },
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}
