import { type MemoryAdapter, memoryAdapter } from '@walstream/adapter-memory';
import {
  type Catalog,
  createWal,
  DeliverFilter,
  DeliverPolicy,
  defineMessageType,
  type ImmutableMessage,
  LocalTimestampAllocator,
  MemoryCatalog,
  type MessageID,
  type MessageTypeDefinition,
  type MutableMessage,
  messageTypes,
  newMessage,
  pchannel,
  SystemMessageType,
  type Wal,
  type WalOpener,
} from '@walstream/core';
import { compileFilters, TimeTickOrderer } from '@walstream/core/internal';
import type { InterceptorBuilder } from '@walstream/core/spi';
import { type SemanticsOptions, shardMessages, walSemantics } from '@walstream/interceptors';
import { resolveOptions } from '../src/options.js';
import { SemanticsStack } from '../src/semantics-stack.js';

export const PCHANNEL = 'ps';

/** A plain application type for tests (registered once per process). */
export const Note: MessageTypeDefinition<unknown> =
  messageTypes.byName('SemanticsTestNote') ??
  defineMessageType({ name: 'SemanticsTestNote', code: 4201, flags: {} });

export function note(vchannel: string, seq: number): MutableMessage {
  return newMessage(Note)
    .vchannel(vchannel)
    .property('seq', String(seq))
    .body(new Uint8Array([seq & 0xff]))
    .build();
}

export interface Stack {
  readonly adapter: MemoryAdapter;
  readonly catalog: Catalog;
  readonly opener: WalOpener;
  readonly options: SemanticsOptions;
  open(term: bigint): Promise<Wal>;
  /** The shared per-WAL state of the last WAL opened (through a probe interceptor at the end of the stack). */
  context(): SemanticsStack;
  close(): Promise<void>;
}

/** A wall clock the test moves by hand; drives both timeticks and the semantics' `now`. */
export class ManualClock {
  ms = 1_700_000_000_000;
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A semantics stack on the memory adapter; `adapter` and `catalog` survive reopen at a higher term. */
export async function semanticsStack(
  options: SemanticsOptions = {},
  shared: { adapter?: MemoryAdapter; catalog?: Catalog; clock?: ManualClock } = {},
): Promise<Stack> {
  const adapter = shared.adapter ?? memoryAdapter();
  const catalog = shared.catalog ?? new MemoryCatalog();
  let captured: SemanticsStack | undefined;
  const probe: InterceptorBuilder = {
    name: 'probe',
    async build(params) {
      if (params.channel.accessMode === 'rw')
        captured = await SemanticsStack.of(params, options, resolveOptions(options, 'probe'));
      return { name: 'probe', doAppend: (message, context, next) => next(message, context) };
    },
  };
  const allocator = shared.clock ? new LocalTimestampAllocator({ now: shared.clock.now }) : undefined;
  const opener = await createWal({ catalog, allocator, runtime: { appendRetry: { initialMs: 1, maxMs: 5 } } })
    .adapter(adapter)
    .use(...walSemantics(options), probe)
    .build();
  return {
    adapter,
    catalog,
    opener,
    options,
    open: (term) => opener.open({ channel: pchannel(PCHANNEL, term) }),
    context: () => {
      if (!captured) throw new Error('no WAL opened yet');
      return captured;
    },
    close: () => opener.close(),
  };
}

/** Creates a vchannel with a collection (Milvus's CreateCollection), so Milvus's messages may be appended to it. */
export async function createCollection(
  wal: Wal,
  vchannel: string,
  collectionId = 1n,
  partitionIds?: bigint[],
) {
  return wal.append(shardMessages.createCollection(vchannel, { collectionId, partitionIds }));
}

/** The log as stored, oldest first. */
export function stored(stack: Stack): ImmutableMessage[] {
  return stack.adapter.store.messages(PCHANNEL);
}

/** Reads the raw log from the start until `until` holds, bounded. */
export async function readRawUntil(
  wal: Wal,
  until: (seen: readonly ImmutableMessage[]) => boolean,
  timeoutMs = 5_000,
): Promise<ImmutableMessage[]> {
  const seen: ImmutableMessage[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  await using scanner = await wal.read({ deliverPolicy: DeliverPolicy.all(), signal });
  for await (const message of scanner) {
    seen.push(message);
    if (until(seen)) break;
  }
  return seen;
}

export const isTick = (message: ImmutableMessage): boolean =>
  message.messageType === SystemMessageType.TimeTick;

/**
 * The TimeTick contract on the stored log: after a persisted tick at X, nothing with tt ≤ X comes later.
 * Returns the violations (empty when it holds).
 */
export function timeTickViolations(log: readonly ImmutableMessage[]): string[] {
  const violations: string[] = [];
  let maxTick = -1n;
  for (const message of log) {
    if (isTick(message)) {
      if (message.timeTick < maxTick) violations.push(`tick ${message.timeTick} after tick ${maxTick}`);
      if (message.timeTick > maxTick) maxTick = message.timeTick;
    } else if (message.timeTick <= maxTick) {
      violations.push(`message ${message.id.toString()} at ${message.timeTick} after a tick at ${maxTick}`);
    }
  }
  return violations;
}

/**
 * The last-confirmed contract on the stored log: from LC(X) a reader meets every message with tt ≥ X's,
 * and the begin of every txn that commits after X. Returns the violations.
 */
export function lastConfirmedViolations(log: readonly ImmutableMessage[]): string[] {
  const violations: string[] = [];
  const beginOf = new Map<bigint, ImmutableMessage>();
  for (const message of log) {
    if (message.messageType === SystemMessageType.BeginTxn) beginOf.set(message.txnContext!.txnId, message);
  }
  // A retried append can be in the log twice (same timetick, another id); readers deliver it once, so the
  // contract holds when the reader meets its last copy.
  const lastCopy = new Map<bigint, ImmutableMessage>();
  for (const message of log) lastCopy.set(message.timeTick, message);
  for (const x of log) {
    const lc = x.lastConfirmedId;
    for (const y of lastCopy.values()) {
      if (y.timeTick >= x.timeTick && y.id.compare(lc) < 0) {
        violations.push(
          `LC of ${x.id.toString()} (${lc.toString()}) is past ${y.id.toString()} at tt ${y.timeTick} ≥ ${x.timeTick}`,
        );
      }
      if (y.messageType === SystemMessageType.CommitTxn && y.timeTick > x.timeTick) {
        const begin = beginOf.get(y.txnContext!.txnId);
        if (begin && begin.id.compare(lc) < 0) {
          violations.push(
            `LC of ${x.id.toString()} is past the begin of txn ${y.txnContext!.txnId} committed later`,
          );
        }
      }
    }
  }
  return violations;
}

/**
 * Reads a stored log as an ordered reader would (core's TimeTickOrderer: reorder by timetick released at
 * each TimeTick, txns delivered whole at their commit), from `fromId`, with the resume filter `tt > afterTt`
 * on plain messages and commits (txn begins and bodies always pass). TimeTicks are not returned.
 */
export function orderedRead(
  log: readonly ImmutableMessage[],
  fromId?: MessageID,
  afterTt = -1n,
): ImmutableMessage[] {
  const orderer = new TimeTickOrderer();
  const accept = compileFilters([DeliverFilter.timeTickGT(afterTt)])!;
  const out: ImmutableMessage[] = [];
  for (const message of log) {
    if (fromId && message.id.compare(fromId) < 0) continue;
    if (!accept(message)) continue;
    for (const released of orderer.accept(message)) if (!isTick(released)) out.push(released);
  }
  return out;
}
