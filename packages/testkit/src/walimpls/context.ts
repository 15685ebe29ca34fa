import { randomBytes } from 'node:crypto';
import { type AccessMode, type MessageID, type MutableMessage, WalError } from '@walstream/core';
import type {
  RawScanner,
  ReadOnlyWalImpls,
  ReadOptions,
  WalImpls,
  WalImplsBuilder,
  WalImplsCapabilities,
  WalImplsOpener,
} from '@walstream/core/spi';
import { CaseSkipped, check, describeError, fail } from '../runner/assert.js';
import { abortable, pause } from '../runner/wait.js';
import type { WriterFreezer } from './freezer.js';
import { type AppendRecord, checkAppendedIds } from './ids.js';
import type { MessageIdSpace, StoreProbe, WalImplsTestContext } from './types.js';

export interface FixtureSettings {
  readonly capabilities: Partial<WalImplsCapabilities>;
  readonly messageCount: number;
  readonly appendRetries: number;
  readonly channelPrefix: string;
  readonly numRuns: number;
  readonly seed: number | undefined;
  readonly messageIds: MessageIdSpace | undefined;
  readonly storeProbe: StoreProbe | undefined;
  readonly writerFreezer: WriterFreezer | undefined;
}

interface Closable {
  readonly what: string;
  close(): Promise<void>;
}

/**
 * The per-case fixture: one builder, lazily one opener, and a record of every opener, WAL and scanner
 * the case made, closed in reverse order afterwards.
 */
export class CaseFixture<B extends WalImplsBuilder = WalImplsBuilder> implements WalImplsTestContext<B> {
  readonly builder: B;
  readonly walName: string;
  readonly capabilities: WalImplsCapabilities;
  readonly messageCount: number;
  readonly numRuns: number;
  readonly seed: number | undefined;
  readonly messageIds: MessageIdSpace | undefined;
  readonly storeProbe: StoreProbe | undefined;
  readonly writerFreezer: WriterFreezer | undefined;
  readonly signal: AbortSignal;
  readonly #settings: FixtureSettings;
  readonly #factory: () => B | Promise<B>;
  readonly #openers: Closable[] = [];
  readonly #wals: Closable[] = [];
  readonly #scanners: Closable[] = [];
  readonly #deferred: (() => Promise<void> | void)[] = [];
  /** Every id `append` returned, by pchannel, with when its call started and resolved. */
  readonly #appended = new Map<string, AppendRecord[]>();
  #clock = 0;
  #opener: Promise<WalImplsOpener> | undefined;
  #scannerCount = 0;

  constructor(builder: B, factory: () => B | Promise<B>, settings: FixtureSettings, signal: AbortSignal) {
    this.builder = builder;
    this.#factory = factory;
    this.walName = builder.name;
    this.capabilities = { ...builder.capabilities, ...settings.capabilities };
    this.messageCount = settings.messageCount;
    this.numRuns = settings.numRuns;
    this.seed = settings.seed;
    this.messageIds = settings.messageIds;
    this.storeProbe = settings.storeProbe;
    this.writerFreezer = settings.writerFreezer;
    this.signal = signal;
    this.#settings = settings;
  }

  opener(): Promise<WalImplsOpener> {
    this.#opener ??= this.newOpener();
    return this.#opener;
  }

  async newOpener(builder: B = this.builder): Promise<WalImplsOpener> {
    const what = `opener #${this.#openers.length + 1} of ${this.walName}`;
    const opener = await abortable(builder.build({ signal: this.signal }), this.signal, `build() of ${what}`);
    if (!opener) fail(`builder ${this.walName}: build() resolved without an opener`);
    this.#openers.push({ what, close: () => opener.close() });
    return opener;
  }

  async newBuilder(): Promise<B> {
    const builder = await abortable(
      Promise.resolve().then(this.#factory),
      this.signal,
      'the builder factory (called again for a fresh builder)',
    );
    check(
      builder !== null && typeof builder === 'object' && typeof builder.build === 'function',
      'the builder factory, called again, did not return a WalImplsBuilder',
    );
    check(
      builder.name === this.walName,
      () =>
        `the builder factory, called again, returned a builder named ${JSON.stringify(builder.name)}, ` +
        `the first was ${JSON.stringify(this.walName)}`,
    );
    return builder;
  }

  channelName(label: string): string {
    const clean = label.toLowerCase().replace(/[^a-z0-9]+/g, '');
    return `${this.#settings.channelPrefix}_${clean}_${randomBytes(5).toString('hex')}`;
  }

  async open(
    name: string,
    term: bigint | number,
    accessMode: AccessMode = 'rw',
    opener?: WalImplsOpener,
  ): Promise<WalImpls> {
    const from = opener ?? (await this.opener());
    const what = `${name}@${String(term)} (${accessMode})`;
    let wal: WalImpls;
    try {
      wal = await abortable(
        from.open({ channel: { name, term: BigInt(term), accessMode }, signal: this.signal }),
        this.signal,
        `open ${what}`,
      );
    } catch (error) {
      if (this.signal.aborted) throw error;
      fail(`opening ${what} failed: ${describeError(error)}`, error);
    }
    this.#wals.push({ what: `WAL ${what}`, close: () => wal.close() });
    return wal;
  }

  async read(
    wal: ReadOnlyWalImpls,
    options: Omit<ReadOptions, 'name'> & { readonly name?: string },
  ): Promise<RawScanner> {
    const name = options.name ?? `scanner${++this.#scannerCount}`;
    const scanner = await abortable(
      wal.read({ signal: this.signal, ...options, name }),
      this.signal,
      `read(${name}) on ${wal.channel.name}`,
    );
    this.#scanners.push({ what: `scanner ${name} on ${wal.channel.name}`, close: () => scanner.close() });
    return scanner;
  }

  async append(wal: WalImpls, message: MutableMessage): Promise<MessageID> {
    const retries = this.#settings.appendRetries;
    const called = this.#clock++;
    for (let attempt = 0; ; attempt++) {
      try {
        const id = await abortable(
          wal.append(message, { signal: this.signal }),
          this.signal,
          `append to ${wal.channel.name}`,
        );
        this.#record(wal.channel.name, { id, called, resolved: this.#clock++ });
        return id;
      } catch (error) {
        const retriable = WalError.is(error) && error.retriable && !this.signal.aborted;
        if (retriable && attempt < retries) {
          // A short backoff: a real backend's passing fault needs a moment, a memory store none.
          await pause(Math.min(2 ** attempt, 50), this.signal);
          continue;
        }
        if (this.signal.aborted) throw error;
        const tries = attempt + 1;
        fail(
          `append to ${wal.channel.name}@${String(wal.channel.term)} failed${tries > 1 ? ` after ${tries} tries` : ''}: ` +
            describeError(error),
          error,
        );
      }
    }
  }

  #record(channel: string, record: AppendRecord): void {
    // A case checks what append resolved itself; a non-id fails there, with its own message.
    if (record.id === null || typeof record.id !== 'object') return;
    let records = this.#appended.get(channel);
    if (records === undefined) {
      records = [];
      this.#appended.set(channel, records);
    }
    records.push(record);
  }

  /** Checks every id `append` returned during the case (see {@link WalImplsTestContext.append}). */
  checkAppendedIds(): void {
    for (const [channel, records] of this.#appended) {
      checkAppendedIds(this.walName, channel, records, this.#settings);
    }
  }

  skip(reason: string): never {
    throw new CaseSkipped(reason);
  }

  defer(cleanup: () => Promise<void> | void): void {
    this.#deferred.push(cleanup);
  }

  /**
   * Runs the deferred cleanups, then closes scanners, WALs and openers, newest first. Returns what went
   * wrong: a `close()` that rejects is itself a conformance failure.
   */
  async teardown(signal: AbortSignal): Promise<string[]> {
    const problems: string[] = [];
    const attempt = async (what: string, action: () => Promise<void> | void) => {
      try {
        await abortable(Promise.resolve().then(action), signal, `${what} during cleanup`);
      } catch (error) {
        problems.push(`${what}: ${describeError(error)}`);
      }
    };
    for (const cleanup of this.#deferred.reverse()) await attempt('a deferred cleanup', cleanup);
    for (const group of [this.#scanners, this.#wals, this.#openers]) {
      for (const item of [...group].reverse()) await attempt(`closing ${item.what}`, item.close);
    }
    return problems;
  }
}
