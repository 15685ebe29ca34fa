import { randomBytes } from 'node:crypto';
import {
  type Catalog,
  createWal,
  DeliverFilter,
  DeliverPolicy,
  type ImmutableMessage,
  pchannel,
  type TimestampAllocator,
  type Wal,
  type WalOpener,
} from '@walstream/core';
import type { WalRuntimeOptions } from '@walstream/core/internal';
import type { InterceptorBuilder, RawScanner, WalImplsBuilder } from '@walstream/core/spi';
import { ConformanceFailure, describeError, fail } from '../runner/assert.js';
import { abortable } from '../runner/wait.js';
import { Ledger } from './ledger.js';
import { AckLoss, withAckLoss } from './lost-acks.js';
import { Reader, type ReaderScope } from './reader.js';
import { RecordingCatalog } from './recording-catalog.js';
import type { AppendFaultSwitch, SemanticsProtocol } from './types.js';

/** What every stack of one case is built from. */
export interface StackSettings {
  readonly adapter: () => WalImplsBuilder | Promise<WalImplsBuilder>;
  readonly interceptors: () => readonly InterceptorBuilder[];
  readonly faults: ((adapter: WalImplsBuilder, pchannel: string) => AppendFaultSwitch) | undefined;
  readonly catalog: () => Catalog;
  readonly allocator: () => TimestampAllocator;
  readonly runtime: WalRuntimeOptions;
  readonly protocol: SemanticsProtocol;
  readonly channelPrefix: string;
}

export interface ReadFrom {
  /** Read one vchannel (plus messages for every vchannel); every vchannel when absent. */
  readonly vchannel?: string;
  /** Resume after this delivered message: `startFrom(m.lastConfirmedId)` + `timeTickGT(m.timeTick)`. */
  readonly after?: ImmutableMessage;
  /**
   * Read through a read-only WAL of the same stack (a replica on another node): it has no write-ahead
   * buffer, so it reads the store and sees exactly what was written, across terms.
   */
  readonly replica?: boolean;
}

/**
 * One pchannel through the full stack, across terms: the adapter, catalog and timestamp allocator stay
 * (they are the backend, the metadata store and the TSO); each term gets its own opener (a new node).
 */
export class SemanticsStack {
  readonly pchannel: string;
  readonly vchannels: readonly string[];
  readonly ledger: Ledger;
  readonly adapter: WalImplsBuilder;
  /** How each reopening went, in order. */
  readonly reopenings: ('graceful' | 'over a live WAL')[] = [];
  /**
   * The reopenings that ran during a wave, each started by the first acknowledgement the suite dropped
   * (see {@link loseAcksUntilReopened}), and how many acknowledgements of the closing term it dropped.
   */
  readonly reopeningsUnderLostAcks: { readonly graceful: boolean; readonly dropped: number }[] = [];
  readonly #ackLoss = new AckLoss();
  readonly #wrapped: WalImplsBuilder;
  readonly #settings: StackSettings;
  readonly #signal: AbortSignal;
  readonly #catalog: RecordingCatalog;
  readonly #allocator: TimestampAllocator;
  readonly #readers: Reader[] = [];
  readonly #openers: WalOpener[] = [];
  #replica: Promise<{ readonly opener: WalOpener; readonly wal: Wal }> | undefined;
  readonly #rawScanners: RawScanner[] = [];
  #wal: Wal | undefined;
  #term = 0n;
  #readerSeq = 0;
  #faultRate = 0;

  private constructor(
    settings: StackSettings,
    adapter: WalImplsBuilder,
    label: string,
    vchannels: number,
    signal: AbortSignal,
  ) {
    this.#settings = settings;
    this.#signal = signal;
    this.adapter = adapter;
    this.#wrapped = withAckLoss(adapter, this.#ackLoss);
    const clean = label.toLowerCase().replace(/[^a-z0-9]+/g, '');
    const suffix = randomBytes(4).toString('hex');
    this.pchannel = `${settings.channelPrefix}${clean}${suffix}`;
    this.vchannels = Array.from({ length: vchannels }, (_, i) => `${this.pchannel}_v${i}`);
    this.ledger = new Ledger(suffix);
    this.#catalog = new RecordingCatalog(settings.catalog());
    this.#allocator = settings.allocator();
  }

  /** Builds the stack, opens the pchannel at term 1 and makes its vchannels known. */
  static async open(
    settings: StackSettings,
    label: string,
    vchannels: number,
    signal: AbortSignal,
    track: (stack: SemanticsStack) => void,
  ): Promise<SemanticsStack> {
    const adapter = await abortable(Promise.resolve().then(settings.adapter), signal, 'the adapter factory');
    const stack = new SemanticsStack(settings, adapter, label, vchannels, signal);
    // Tracked before anything opens, so a stack that fails half-way is still closed.
    track(stack);
    await stack.#openTerm(1n);
    for (const vchannel of stack.vchannels) {
      try {
        await abortable(
          settings.protocol.createVChannel(stack.wal, vchannel),
          signal,
          `creating vchannel ${vchannel}`,
        );
      } catch (error) {
        if (error instanceof ConformanceFailure) throw error;
        fail(`creating vchannel ${vchannel} failed: ${describeError(error)}`, error);
      }
    }
    return stack;
  }

  get wal(): Wal {
    if (!this.#wal) throw new ConformanceFailure(`pchannel ${this.pchannel} is not open`);
    return this.#wal;
  }

  /** The stack's catalog (the options' one), with every checkpoint save its WALs made. */
  get catalog(): RecordingCatalog {
    return this.#catalog;
  }

  get term(): bigint {
    return this.#term;
  }

  get faultsAvailable(): boolean {
    return this.#settings.faults !== undefined;
  }

  get signal(): AbortSignal {
    return this.#signal;
  }

  get protocol(): SemanticsProtocol {
    return this.#settings.protocol;
  }

  /** Switches injected append errors on (`rate` > 0) or off; a no-op when the adapter has no fault hook. */
  setAppendErrorRate(rate: number): void {
    const faults = this.#settings.faults;
    if (!faults) return;
    this.#faultRate = rate;
    faults(this.adapter, this.pchannel).set({ appendErrorRate: rate });
  }

  get appendErrorRate(): number {
    return this.#faultRate;
  }

  /**
   * Opens the pchannel at the next term on a new opener. `graceful` closes the current WAL first (a
   * planned move); otherwise the new term opens while the old WAL still runs and fences it (a node that
   * was given up for dead), and the old one is closed afterwards. An adapter without fencing always gets
   * the graceful move: nothing would stop its old writer. Returns whether the move was graceful.
   */
  async reopen(options: { graceful: boolean }): Promise<boolean> {
    const graceful = options.graceful || !this.adapter.capabilities.fencing;
    const previous = this.#openers.at(-1);
    if (graceful && previous) await abortable(previous.close(), this.#signal, `closing term ${this.#term}`);
    await this.#openTerm(this.#term + 1n);
    this.reopenings.push(graceful ? 'graceful' : 'over a live WAL');
    if (!graceful && previous) {
      await abortable(previous.close(), this.#signal, `closing the fenced WAL of term ${this.#term - 1n}`);
    }
    return graceful;
  }

  /**
   * A reopening during a wave: from now on every suite append the current term's WAL writes loses its
   * acknowledgement (the runtime retries it), and the first one lost starts `reopen` — so the reopening
   * always meets appends being retried, whose retries it cuts short (`ON_SHUTDOWN` on a graceful close,
   * `CHANNEL_FENCED` over a live WAL) although they landed. Returns a function that stops the loss and
   * records the reopening; call it once the wave and the reopening ended.
   */
  loseAcksUntilReopened(reopen: () => void): (graceful: boolean) => void {
    this.#ackLoss.arm(this.#term, reopen);
    return (graceful) => {
      const dropped = this.#ackLoss.dropped;
      this.#ackLoss.disarm();
      this.reopeningsUnderLostAcks.push({ graceful, dropped });
    };
  }

  /** A reader on the current WAL, pumped in the background; closed with the stack. */
  async read(label: string, from: ReadFrom = {}): Promise<Reader> {
    const scope: ReaderScope = { vchannel: from.vchannel, afterTimeTick: from.after?.timeTick };
    const name = `${this.pchannel}-${label}-${++this.#readerSeq}`;
    let scanner: Awaited<ReturnType<Wal['read']>>;
    try {
      const wal = from.replica ? (await this.#openReplica()).wal : this.wal;
      scanner = await abortable(
        wal.read({
          name,
          ...(from.vchannel === undefined ? {} : { vchannel: from.vchannel }),
          deliverPolicy: from.after
            ? DeliverPolicy.startFrom(from.after.lastConfirmedId)
            : DeliverPolicy.all(),
          filters: from.after ? [DeliverFilter.timeTickGT(from.after.timeTick)] : [],
        }),
        this.#signal,
        `opening reader ${label}`,
      );
    } catch (error) {
      if (error instanceof ConformanceFailure) throw error;
      fail(
        `opening reader ${label} on ${this.pchannel}@${this.#term} failed: ${describeError(error)}`,
        error,
      );
    }
    const reader = new Reader(from.replica ? `${label}@ro` : `${label}@${this.#term}`, scope, scanner);
    this.#readers.push(reader);
    return reader;
  }

  /**
   * Every entry the store holds for the pchannel, in id order, read straight from the adapter (past the
   * scanner's ordering) until `stop` matches. For checks of what was written, not what readers see.
   */
  async readRaw(stop: (message: ImmutableMessage) => boolean, max: number): Promise<ImmutableMessage[]> {
    const opener = await abortable(
      this.adapter.build({ signal: this.#signal }),
      this.#signal,
      'building a raw opener',
    );
    try {
      const wal = await opener.open({ channel: pchannel(this.pchannel, this.#term, 'ro') });
      const raw = await wal.read({
        name: `${this.pchannel}-raw-${++this.#readerSeq}`,
        deliverPolicy: DeliverPolicy.all(),
      });
      this.#rawScanners.push(raw);
      const entries: ImmutableMessage[] = [];
      const iterator = raw[Symbol.asyncIterator]();
      for (;;) {
        const next = await abortable(
          iterator.next(),
          this.#signal,
          `the raw store read (after ${entries.length} entries)`,
        );
        if (next.done) fail(`the raw reader of ${this.pchannel} ended after ${entries.length} entries`);
        entries.push(next.value);
        if (stop(next.value)) return entries;
        if (entries.length > max)
          fail(`the raw reader of ${this.pchannel} read ${entries.length} entries without the end marker`);
      }
    } finally {
      await opener.close();
    }
  }

  /** Closes readers, then every opener (and with it every WAL). Returns what went wrong. */
  async close(signal: AbortSignal): Promise<string[]> {
    const problems: string[] = [];
    if (this.#faultRate > 0) {
      try {
        this.setAppendErrorRate(0);
      } catch (error) {
        problems.push(`switching faults off: ${describeError(error)}`);
      }
    }
    const attempt = async (what: string, action: () => Promise<void>) => {
      try {
        await abortable(action(), signal, `${what} during cleanup`);
      } catch (error) {
        problems.push(`${what}: ${describeError(error)}`);
      }
    };
    for (const raw of this.#rawScanners) await attempt('closing a raw scanner', () => raw.close());
    for (const reader of this.#readers) await attempt(`closing reader ${reader.label}`, () => reader.close());
    if (this.#replica) {
      const replica = this.#replica;
      await attempt('closing the read-only replica', async () => (await replica).opener.close());
    }
    for (const opener of [...this.#openers].reverse())
      await attempt(`closing an opener of ${this.pchannel}`, () => opener.close());
    return problems;
  }

  #buildOpener(what: string): Promise<WalOpener> {
    const settings = this.#settings;
    return abortable(
      createWal({ catalog: this.#catalog, allocator: this.#allocator, runtime: settings.runtime })
        .adapter(this.#wrapped)
        .use(...settings.interceptors())
        .build({ signal: this.#signal }),
      this.#signal,
      `building the stack for ${what}`,
    );
  }

  /** The read-only replica, opened on first use at the term current then; it reads on across terms. */
  #openReplica(): Promise<{ readonly opener: WalOpener; readonly wal: Wal }> {
    this.#replica ??= (async () => {
      const opener = await this.#buildOpener('a read-only replica');
      try {
        const wal = await abortable(
          opener.open({ channel: pchannel(this.pchannel, this.#term, 'ro'), signal: this.#signal }),
          this.#signal,
          `opening ${this.pchannel} read-only`,
        );
        return { opener, wal };
      } catch (error) {
        await opener.close();
        if (error instanceof ConformanceFailure) throw error;
        fail(`opening ${this.pchannel} read-only failed: ${describeError(error)}`, error);
      }
    })();
    return this.#replica;
  }

  async #openTerm(term: bigint): Promise<void> {
    const opener = await this.#buildOpener(`term ${term}`);
    this.#openers.push(opener);
    try {
      this.#wal = await abortable(
        opener.open({ channel: pchannel(this.pchannel, term), signal: this.#signal }),
        this.#signal,
        `opening ${this.pchannel} at term ${term}`,
      );
    } catch (error) {
      if (error instanceof ConformanceFailure) throw error;
      fail(`opening ${this.pchannel} at term ${term} failed: ${describeError(error)}`, error);
    }
    this.#term = term;
  }
}
