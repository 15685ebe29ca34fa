import { type MemoryAdapter, memoryAdapter } from '@walstream/adapter-memory';
import {
  composeTimeTick,
  ImmutableMessage,
  LocalTimestampAllocator,
  MemoryCatalog,
  newMessage,
  SystemMessageType,
  type TimestampAllocator,
} from '@walstream/core';
import {
  createRawScanner,
  type InterceptorBuilder,
  type RawScanner,
  SystemProperty,
  type WalImpls,
} from '@walstream/core/spi';
import { type SemanticsOptions, ShardMessageType, walSemantics } from '@walstream/interceptors';
import { describe, expect, test } from 'vitest';
import {
  runSemanticsConformance,
  SEMANTICS_GROUPS,
  type SemanticsConformanceOptions,
  type SemanticsReport,
  semanticsCaseDefinitions,
} from '../src/index.js';
import { BackwardsEvery } from './support/semantics-allocators.js';
import {
  keepsTxnsAlive,
  OverwritingCatalog,
  returnsWrongIds,
  writesAbortedAppends,
} from './support/semantics-stacks.js';

/** Short close waits: the suite closes and reopens WALs many times. */
const OPTIONS: SemanticsOptions = { timeTick: { closeTimeoutMs: 200 } };
const MUTANT_SEED = 20261206;

const CORRECT: SemanticsConformanceOptions<MemoryAdapter> = {
  adapter: () => memoryAdapter(),
  interceptors: () => walSemantics(OPTIONS),
  faults: (adapter, pchannel) => adapter.store.faults(pchannel),
  timeoutMs: 20_000,
};

/** Broken stacks leave readers short of the end: judge them after a second rather than five. */
const BROKEN: Partial<SemanticsConformanceOptions<MemoryAdapter>> = { settleMs: 1_000 };

const TICK_CONTRACT = 'after a TimeTick at X is delivered, every message with tt ≤ X has been delivered';
const EXACTLY_ONCE =
  'every acknowledged append is read exactly once, with the id and timetick its append returned';
const COMMITTED =
  'a committed txn is delivered once as one Txn message, whole, every body at the commit timetick';
const ROLLED_BACK = 'a rolled-back, expired or abandoned txn is never delivered, not one body';
const EXCLUSIVE_ALONE =
  'an exclusive message is alone on its vchannel: its timetick order equals its id order';
const EXCLUSIVE_FAILS_TXNS = 'an exclusive message fails the open txns of its vchannel, and only those';

function casesOf(...groups: string[]) {
  return semanticsCaseDefinitions.filter((c) => groups.includes(c.group));
}

function names(report: SemanticsReport, status: 'passed' | 'failed' | 'skipped'): string[] {
  return report.results.filter((r) => r.status === status).map((r) => r.name);
}

function errorOf(report: SemanticsReport, name: string): string {
  const result = report.results.find((r) => r.name === name);
  return result?.error instanceof Error ? result.error.message : String(result?.error);
}

function failures(report: SemanticsReport): string {
  return report.results
    .filter((r) => r.status === 'failed')
    .map((r) => `${r.name}: ${r.error instanceof Error ? r.error.message : String(r.error)}`)
    .join('\n\n');
}

/**
 * A broken ack manager: before each message goes to the store, a TimeTick announces everything
 * allocated so far as confirmed — that message included, though its append is not acknowledged yet.
 * Placed innermost, past the real timetick interceptor, so the message already carries its timetick.
 */
function confirmsTooEarly(): InterceptorBuilder {
  return {
    name: 'confirms-too-early',
    build(params) {
      return {
        name: 'confirms-too-early',
        async doAppend(message, context, next) {
          if (message.messageType !== SystemMessageType.TimeTick && message.vchannel !== undefined) {
            const early = newMessage(SystemMessageType.TimeTick)
              .allVChannels()
              .build()
              .withTimeTick(await params.allocator.allocate())
              .withWalTerm(params.channel.term);
            const lastConfirmed = message.properties[SystemProperty.lastConfirmed];
            if (lastConfirmed === undefined) early.withLastConfirmedUseMessageId();
            else early.withProperty(SystemProperty.lastConfirmed, lastConfirmed);
            await params.appendDirect(early);
          }
          return next(message, context);
        },
      };
    },
  };
}

/** Drops or rewrites what readers get from the store; `transform` is made once per adapter reader. */
function rewritingReads(
  makeTransform: () => (message: ImmutableMessage) => ImmutableMessage | undefined,
): MemoryAdapter {
  const inner = memoryAdapter();
  const wrapScanner = (raw: RawScanner, name: string): RawScanner => {
    const transform = makeTransform();
    return createRawScanner({
      name,
      async fetch(sink, signal) {
        signal.addEventListener('abort', () => void raw.close(), { once: true });
        for await (const message of raw) {
          const out = transform(message);
          if (out && !(await sink.push(out))) return;
        }
      },
      release: () => raw.close(),
    });
  };
  const wrapWal = (wal: WalImpls): WalImpls => ({
    walName: wal.walName,
    channel: wal.channel,
    append: (message, options) => wal.append(message, options),
    truncate: (id, options) => wal.truncate(id, options),
    read: async (options) => wrapScanner(await wal.read(options), options.name),
    close: () => wal.close(),
    [Symbol.asyncDispose]: () => wal.close(),
  });
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    store: inner.store,
    async build(options) {
      const opener = await inner.build(options);
      return {
        open: async (openOptions) => wrapWal(await opener.open(openOptions)),
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}

/**
 * A broken txn buffer, modelled at the store: readers get every RollbackTxn as a CommitTxn, so the txn
 * buffer hands the rolled-back bodies out as a committed txn.
 */
function leaksRolledBack(): MemoryAdapter {
  return rewritingReads(
    () => (message) =>
      message.messageType === SystemMessageType.RollbackTxn
        ? new ImmutableMessage(message.id, message.payload, {
            ...message.properties,
            [SystemProperty.messageType]: String(SystemMessageType.CommitTxn),
          })
        : message,
  );
}

/** A txn buffer that loses a body: readers never get the first body of any txn. */
function losesFirstBody(): MemoryAdapter {
  return rewritingReads(() => {
    const seen = new Set<string>();
    return (message) => {
      const txn = message.properties[SystemProperty.txnContext];
      const isBody =
        txn !== undefined &&
        message.messageType !== SystemMessageType.BeginTxn &&
        message.messageType !== SystemMessageType.CommitTxn &&
        message.messageType !== SystemMessageType.RollbackTxn;
      if (!isBody || seen.has(txn)) return message;
      seen.add(txn);
      return undefined;
    };
  });
}

/**
 * A shard that assigns Inserts to a segment it never created, modelled at the store: readers get every
 * Insert's header with its segment id moved past any the WAL made.
 */
function assignsUncreatedSegments(): MemoryAdapter {
  return rewritingReads(() => (message) => {
    if (message.messageType !== ShardMessageType.Insert) return message;
    const raw = message.properties[SystemProperty.header] ?? '';
    const header = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Record<string, unknown>;
    const moved = { ...header, segmentId: `${String(header.segmentId)}000` };
    return new ImmutableMessage(message.id, message.payload, {
      ...message.properties,
      [SystemProperty.header]: Buffer.from(JSON.stringify(moved)).toString('base64'),
    });
  });
}

/** Last-confirmed tracking that always confirms the message itself, past any txn still open. */
function confirmsItself(): InterceptorBuilder {
  return {
    name: 'confirms-itself',
    build: () => ({
      name: 'confirms-itself',
      doAppend: (message, context, next) => {
        if (message.messageType !== SystemMessageType.TimeTick) message.withLastConfirmedUseMessageId();
        return next(message, context);
      },
    }),
  };
}

/** The semantics stack with no interceptor declaring TimeTicks: readers get the log in append order. */
function unorderedReads(): InterceptorBuilder[] {
  return walSemantics(OPTIONS).map((builder) => ({
    name: builder.name,
    async build(params) {
      const built = await builder.build(params);
      const { writesTimeTicks: _hidden, ...rest } = built;
      return { ...rest, doAppend: (message, context, next) => built.doAppend(message, context, next) };
    },
  }));
}

/** A TSO that forgets its high-water mark on sync: a new term may start below the old one's timeticks. */
class ForgetfulAllocator implements TimestampAllocator {
  readonly #inner = new LocalTimestampAllocator();
  #rewound = 0n;
  async allocate(): Promise<bigint> {
    return (await this.#inner.allocate()) - this.#rewound;
  }
  sync(): void {
    this.#rewound += composeTimeTick(1_000);
  }
  async barrierUntil(barrier: bigint): Promise<void> {
    await this.#inner.barrierUntil(barrier + this.#rewound);
  }
}

/** A catalog that loses everything the WAL saved: a reopened WAL knows no vchannel. */
class ForgetfulCatalog extends MemoryCatalog {
  override async getCheckpoint(): Promise<undefined> {
    return undefined;
  }
}

const ORDER = 'every reader sees each vchannel in non-decreasing timetick order';
const AGREE =
  'tailing, catch-up and store readers of one WAL deliver the same messages, also across a close during a wave';
const SEGMENTS =
  'every Insert is delivered after the CreateSegment of its segment and before its Flush; full segments roll';
const ALLOCATOR =
  'the timestamp allocator never goes backwards: 10 000 allocations, one after another, concurrent, and mixed with allocateNow(), sync() and barrierUntil()';
const NO_ROLLBACK = 'a WAL fenced by a newer term never rolls the checkpoint back';
const VISIBLE = 'an acknowledged append reaches a tailing reader with no later write';
const RESUME =
  'resuming after any delivered message with startFrom(its LC) + timeTickGT(its tt) yields exactly the rest';
const RECOVERY =
  'after reopening at a higher term, vchannels are known, open txns commit whole and readers continue exactly';
const FENCING = 'every term starts with a persisted fencing TimeTick above every earlier timetick';

interface Mutant {
  readonly title: string;
  readonly options: Partial<SemanticsConformanceOptions<MemoryAdapter>>;
  /** The groups to run (the others cannot see this bug, or see it only as a consequence). */
  readonly groups: readonly string[];
  readonly fails: readonly string[];
  /** Cases that must still pass: the suite pins the bug down rather than failing everything. */
  readonly passes?: readonly string[];
  /** What the first failing case must say. */
  readonly says: RegExp;
}

const LAZY: SemanticsOptions = {
  timeTick: { ...OPTIONS.timeTick, syncGapMs: 60_000, idleTickIntervalMs: 60_000 },
};

const MUTANTS: readonly Mutant[] = [
  {
    title: 'an ack manager that confirms a timetick before its append is acknowledged',
    options: { interceptors: () => [...walSemantics(OPTIONS), confirmsTooEarly()] },
    groups: ['timeTick', 'ordering'],
    fails: [TICK_CONTRACT, EXACTLY_ONCE],
    // An early TimeTick misleads recovery too: some runs (seed -8001745) find a vchannel gone after a
    // reopen before they find the contract broken. Both are this defect, caught.
    says: /(broke the TimeTick contract|vchannel \S+ does not exist)[\s\S]*replay with \{ seed: -?\d+, path: "[\d:]+" \}/,
  },
  {
    title: 'a txn buffer that hands out a rolled-back txn',
    options: { adapter: leaksRolledBack },
    groups: ['txn'],
    fails: [ROLLED_BACK],
    passes: [COMMITTED],
    says: /is txn \S+ \(rolled back\) closed by \S+\/rollback/,
  },
  {
    title: 'a txn buffer that loses a body',
    options: { adapter: losesFirstBody },
    groups: ['txn'],
    fails: [COMMITTED],
    passes: [ROLLED_BACK],
    says: /the acknowledged body \S+ is missing \(the txn is not whole\)/,
  },
  {
    title: 'readers that do not order by timetick',
    options: { interceptors: unorderedReads },
    groups: ['ordering'],
    fails: [ORDER],
    says: /saw timeticks go down on a vchannel/,
  },
  {
    title: 'a WAL that waits for more writes before it makes an append visible',
    options: { interceptors: () => walSemantics(LAZY) },
    groups: ['timeTick'],
    fails: [VISIBLE],
    says: /did not reach a tailing reader within 2000 ms/,
  },
  {
    title: 'a last-confirmed id that passes a txn still open',
    options: { interceptors: () => [...walSemantics(OPTIONS), confirmsItself()] },
    groups: ['resume'],
    fails: [RESUME],
    says: /did not yield exactly the rest — at position \d+ of the rest, a gap/,
  },
  {
    title: 'a stack without the lock interceptor',
    options: { interceptors: () => walSemantics(OPTIONS).filter((builder) => builder.name !== 'lock') },
    groups: ['exclusive'],
    fails: [EXCLUSIVE_ALONE, EXCLUSIVE_FAILS_TXNS],
    says: /by id but (before|after) it by timetick/,
  },
  {
    title: 'a timestamp oracle that forgets its high-water mark',
    options: { allocator: () => new ForgetfulAllocator() },
    groups: ['recovery'],
    fails: [FENCING],
    says: /opens term 2 at tt=\d+, not above the earlier tt=\d+/,
  },
  {
    title: 'a catalog that loses what the WAL saved',
    options: { catalog: () => new ForgetfulCatalog() },
    groups: ['recovery'],
    fails: [RECOVERY],
    says: /TRANSACTION_EXPIRED|does not exist/,
  },
  {
    title: 'a catalog whose saveCheckpoint is no compare-and-swap on the term',
    options: { catalog: () => new OverwritingCatalog() },
    groups: ['recovery'],
    fails: [NO_ROLLBACK],
    passes: [FENCING],
    says: /save #\d+ by term 1 resolved true after term 2 had saved/,
  },
  {
    title:
      'an adapter that lands an aborted append yet reports it not written (tailing and store readers disagree)',
    options: { adapter: writesAbortedAppends },
    groups: ['ordering', 'timeTick'],
    fails: [AGREE, TICK_CONTRACT],
    // The old model (a failed append is read at most once, by each reader on its own) lets it through.
    passes: [ORDER, EXACTLY_ONCE],
    // The landed append is a plain message the tailing reader misses, or a txn body it leaves out of
    // the Txn the store readers deliver whole (seed -388363923).
    says: /reader tail\S* never delivered #\d+ (SemanticsConformanceNote|Insert) \S+ .* \(by (ro-tail@ro|all@\d|ro-all@ro)\)|delivered #\d+ Txn \S+ .* with bodies \[[^\]]+\], reader tail as Txn \S+ tt=\d+ with bodies \[/,
  },
  {
    title: 'a shard that assigns Inserts to segments it never created',
    options: { adapter: assignsUncreatedSegments },
    groups: ['segments'],
    fails: [SEGMENTS],
    says: /Insert \S+ .* went to segment \d+000, which was not created before it/,
  },
  {
    title: 'an adapter whose append returns another id than the one it wrote',
    options: { adapter: returnsWrongIds },
    groups: ['ordering'],
    fails: [EXACTLY_ONCE],
    says: /was delivered as id=memory:\d+ tt=\d+, but its append returned id=memory:\d+ tt=\d+/,
  },
  {
    title: 'walSemantics() without redo (the first Insert on a vchannel fails INNER)',
    options: { interceptors: () => walSemantics(OPTIONS).filter((builder) => builder.name !== 'redo') },
    groups: ['segments'],
    fails: [SEGMENTS],
    says: /appending insert \S+ to \S+ failed: INNER/,
  },
  {
    title: 'a timestamp allocator that goes backwards once every 1 000 allocations',
    options: { allocator: () => new BackwardsEvery(1_000) },
    groups: ['allocator'],
    fails: [ALLOCATOR],
    says: /allocate\(\) #1000 returned \d+, not above \d+, which allocate\(\) #999 returned before it was called \(\d+ lower: the allocator went backwards\)/,
  },
  {
    title: 'a txn manager that ignores the keepalive a BeginTxn asks for',
    options: { protocol: keepsTxnsAlive },
    groups: ['txn'],
    fails: [ROLLED_BACK],
    passes: [COMMITTED],
    says: /committed after its keepalive ran out/,
  },
];

describe('the semantics suite', () => {
  test('has unique case names in known groups, every group with cases', () => {
    const all = semanticsCaseDefinitions.map((c) => c.name);
    expect(new Set(all).size).toBe(all.length);
    for (const group of SEMANTICS_GROUPS) {
      expect(
        semanticsCaseDefinitions.some((c) => c.group === group),
        group,
      ).toBe(true);
    }
  });

  test('the memory adapter behind walSemantics() passes every case, with injected append errors', async () => {
    const report = await runSemanticsConformance(CORRECT);
    expect(names(report, 'failed'), failures(report)).toEqual([]);
    expect(report.passed).toBe(semanticsCaseDefinitions.length);
  }, 120_000);

  test.each(MUTANTS.map((mutant) => [mutant.title, mutant] as const))(
    'catches %s',
    async (_title, mutant) => {
      const report = await runSemanticsConformance({
        ...CORRECT,
        ...BROKEN,
        ...mutant.options,
        cases: casesOf(...mutant.groups),
        // One schedule per broken stack, the same in every run: a broken stack shows its defect in more
        // than one way, and a random schedule picked another way now and then (two CI failures).
        seed: MUTANT_SEED,
      });
      expect(names(report, 'failed'), failures(report)).toEqual(expect.arrayContaining([...mutant.fails]));
      expect(errorOf(report, mutant.fails[0]!)).toMatch(mutant.says);
      if (mutant.passes) expect(names(report, 'passed')).toEqual(expect.arrayContaining([...mutant.passes]));
    },
    60_000,
  );
});
