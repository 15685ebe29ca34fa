import { randomBytes } from 'node:crypto';
import { channel as diagnosticsChannel } from 'node:diagnostics_channel';
import { hasCode, type PChannelInfo, WalError } from '@walstream/core';
import { delay } from '@walstream/core/internal';
import { abortError, type Observability, toWalError } from '@walstream/core/spi';
import type { DriverWriter, InRecord, KafkaDriver, OutRecord, WriteStage } from './driver/types.js';
import type { ResolvedOptions } from './options.js';
import {
  BATCH_OVERHEAD,
  encodeStamp,
  estimateRecordBytes,
  openMarker,
  STAMP_HEADER,
  type Stamp,
  stampBytes,
  stampOf,
} from './records.js';
import { readLastStamp, readRange } from './tail.js';
import { bounded, errorMessage } from './util.js';

interface Pending {
  readonly record: OutRecord;
  readonly size: number;
  readonly resolve: (offset: bigint) => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
  /** Taken into a batch: from then on an abort no longer rejects it (it may land; its outcome is reported). */
  sent: boolean;
}

export interface WriterContext {
  readonly driver: KafkaDriver;
  readonly topic: string;
  readonly channel: PChannelInfo;
  readonly options: ResolvedOptions;
  /** The topic's max.message.bytes: the largest record batch the broker accepts. */
  readonly maxMessageBytes: number;
  /** The stack's observability, with the pchannel bound. */
  readonly observability: Observability;
}

/**
 * `node:diagnostics_channel` name on which a transactional writer publishes {@link KafkaWriterStage}
 * events: where each transaction is, for tracing, and for tests that stop the process at a chosen point.
 */
export const KAFKA_WRITER_CHANNEL = 'walstream:kafka:writer';

/** One step of a transaction: `sent` (produce answered), `committing` (EndTxn started), `committed` (answered). */
export interface KafkaWriterStage {
  readonly topic: string;
  readonly term: bigint;
  readonly stage: WriteStage | 'committed';
}

const stageChannel = diagnosticsChannel(KAFKA_WRITER_CHANNEL);

/** How often a writer re-takes the producer epoch when its own term is still current. */
const MAX_TAKEOVERS = 5;

/**
 * The single writer of one pchannel: batches concurrent appends (one produce request, one record batch,
 * so record i of a batch gets base offset + i) and, in `transactional` mode, keeps the term fence.
 *
 * Fencing: every append batch is a transaction of a producer whose transactional id is fixed per
 * pchannel. Opening a writer runs InitProducerId, which bumps the epoch and fences every older producer
 * of that id, then checks the stamp of the log's last committed record: a higher term (or, after a
 * takeover, another writer of the same term) means this writer is stale, and it rejects CHANNEL_FENCED
 * for good. A writer fenced by a *stale* opener (lower term) sees its own term still current, takes the
 * epoch back and retries the batch: the fenced transaction was aborted, so nothing lands twice. The
 * stamp (term + writer id) rides on the last record of each transaction (and on the open marker): a
 * transaction commits whole, so the log's last committed record always carries one.
 */
export class WalWriter {
  readonly #ctx: WriterContext;
  readonly #id = randomBytes(8).toString('base64url');
  readonly #stamp: Buffer | undefined;
  /** Bytes the stamp adds to the record that carries it (reserved in every batch's byte budget). */
  readonly #stampReserve: number;
  readonly #transactional: boolean;
  #writer: DriverWriter | undefined;
  #healthy = false;
  #established = false;
  #fenced: WalError | undefined;
  #closed = false;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  /** Offset of the newest record this writer wrote: truncation never drops it (it carries the term). */
  #lastOffset: bigint | undefined;

  constructor(ctx: WriterContext) {
    this.#ctx = ctx;
    this.#transactional = ctx.options.fencing === 'transactional';
    this.#stamp = this.#transactional ? encodeStamp({ term: ctx.channel.term, writer: this.#id }) : undefined;
    this.#stampReserve = this.#stamp ? stampBytes(this.#stamp) : 0;
  }

  get lastOffset(): bigint | undefined {
    return this.#lastOffset;
  }

  /** Takes the pchannel: InitProducerId and the term check. Rejects CHANNEL_FENCED for a stale term. */
  async start(): Promise<void> {
    await this.#establish();
  }

  append(record: OutRecord, signal?: AbortSignal): Promise<bigint> {
    if (this.#closed) return Promise.reject(closedError(this.#ctx.channel));
    if (this.#fenced) return Promise.reject(this.#fenced);
    if (signal?.aborted) return Promise.reject(abortError(signal, 'kafka append'));
    const size = estimateRecordBytes(record);
    const limit = this.#ctx.maxMessageBytes;
    if (size + this.#stampReserve + BATCH_OVERHEAD > limit) {
      return Promise.reject(tooLarge(this.#ctx.topic, size + this.#stampReserve + BATCH_OVERHEAD, limit));
    }
    return new Promise<bigint>((resolve, reject) => {
      const onAbort = () => {
        if (!pending.sent) settle(pending, () => reject(abortError(signal, 'kafka append')));
      };
      const pending: Pending = {
        record,
        size,
        settled: false,
        sent: false,
        resolve: (offset) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(offset);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      // Aborting a queued append drops it. Once its batch is taken the abort is ignored and the append
      // reports what happened: rejecting ABORTED while the record may still land would tell the layers
      // above (the TimeTick ack manager) that it was not written, and a reader could then see it after a
      // TimeTick past its timetick.
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(pending);
      this.#kick();
    });
  }

  /** Starts the flush loop unless it runs; one batch is in flight at a time (one transaction at a time). */
  #kick(): void {
    if (this.#flushing) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
      // An append may have queued between the loop's last check and this callback.
      if (this.#queue.length > 0 && !this.#closed) this.#kick();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = closedError(this.#ctx.channel);
    for (const pending of this.#queue.splice(0)) settle(pending, () => pending.reject(error));
    await this.#flushing?.catch(() => undefined);
    await this.#writer?.close();
    this.#writer = undefined;
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      // Group commit: one transaction carries every append queued while the previous one committed,
      // split into record batches (produce requests) of at most the batch caps. Yield once first, so the
      // appenders the previous transaction just resolved can queue their next appends and join this one
      // (else a window of N appends in flight splits into a big and a tiny transaction, each a full cost).
      if (this.#transactional) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#closed) break;
      const groups = this.#takeBatches(this.#transactional ? this.#ctx.options.maxTransactionBatches : 1);
      if (groups.length === 0) continue;
      // Set once the driver got these records: from then on a failure may leave them in the log.
      const attempt = { sent: false };
      try {
        const records = groups.map((batch) => batch.map((p) => p.record));
        if (this.#stamp) {
          // Only the transaction's last record carries the term stamp: the term check reads the last
          // committed stamp, and a transaction commits whole, so the others would be ~20 bytes of
          // header per record (encoded, sent and stored) for nothing.
          const last = records[records.length - 1]!;
          const record = last[last.length - 1]!;
          last[last.length - 1] = {
            value: record.value,
            headers: [...record.headers, [STAMP_HEADER, this.#stamp]],
          };
        }
        const bases = await this.#write(records, attempt);
        const lastGroup = groups[groups.length - 1]!;
        this.#lastOffset = bases[bases.length - 1]! + BigInt(lastGroup.length - 1);
        for (const [g, batch] of groups.entries()) {
          const base = bases[g]!;
          for (const [i, pending] of batch.entries())
            settle(pending, () => pending.resolve(base + BigInt(i)));
        }
      } catch (error) {
        await this.#failed(groups, error, attempt.sent);
      }
    }
  }

  /** Takes up to `maxBatches` record batches off the queue, each within the message and byte caps. */
  #takeBatches(maxBatches: number): Pending[][] {
    const { maxBatchMessages, maxBatchBytes } = this.#ctx.options;
    const byteLimit =
      Math.min(maxBatchBytes, this.#ctx.maxMessageBytes) - BATCH_OVERHEAD - this.#stampReserve;
    const groups: Pending[][] = [];
    while (this.#queue.length > 0 && groups.length < maxBatches) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (this.#queue.length > 0 && batch.length < maxBatchMessages) {
        const next = this.#queue[0]!;
        if (next.settled) {
          this.#queue.shift();
          continue;
        }
        if (batch.length > 0 && bytes + next.size > byteLimit) break;
        next.sent = true;
        batch.push(this.#queue.shift()!);
        bytes += next.size;
      }
      if (batch.length === 0) break;
      groups.push(batch);
    }
    return groups;
  }

  async #write(batches: OutRecord[][], attempt: { sent: boolean }): Promise<bigint[]> {
    if (this.#fenced) throw this.#fenced;
    if (!this.#healthy) await this.#establish();
    const timeout = this.#ctx.options.operationTimeoutMs;
    try {
      attempt.sent = true;
      return await bounded(this.#commit(batches), timeout, `append to ${this.#ctx.topic}`);
    } catch (error) {
      // Whatever happened, the producer's transaction state is unknown now: re-establish before reuse.
      this.#healthy = false;
      if (!this.#transactional || this.#ctx.driver.classify(error) !== 'fenced') {
        if (this.#transactional) {
          // A newer opener's InitProducerId racing our EndTxn can make the broker fail it with
          // UNKNOWN_SERVER_ERROR (its coordinator is mid epoch fence): if a newer term wrote since, this
          // writer is fenced; otherwise the outcome is unknown, which the SPI allows as a retriable error.
          this.#checkStamp(
            await readLastStamp(this.#ctx.driver, this.#ctx.topic, timeout).catch(() => undefined),
          );
        }
        this.#report(error, 'append failed; the producer is re-created before the next append');
        throw error;
      }
      // Fenced by a newer epoch. If our term is still the newest, a stale opener did it: take the epoch
      // back (this rejects CHANNEL_FENCED otherwise) and retry the batches, which the broker aborted.
      this.#report(error, 'producer epoch taken; checking the term before taking it back');
    }
    await this.#establish();
    return await bounded(this.#commit(batches), timeout, `append to ${this.#ctx.topic}`);
  }

  /**
   * Writes the batches and, when transactional, waits until the last stable offset passed them. EndTxn
   * returns before the commit markers are written, so without this wait an acknowledged append could
   * still be invisible to read_committed readers (and `latest` could start before it). The next
   * transaction would wait for those markers anyway (CONCURRENT_TRANSACTIONS), so this costs no throughput.
   */
  async #commit(batches: OutRecord[][]): Promise<bigint[]> {
    const bases = await this.#writer!.write(batches, stageChannel.hasSubscribers ? this.#publish : undefined);
    if (this.#transactional) {
      if (stageChannel.hasSubscribers) this.#publish('committed');
      const last = batches.length - 1;
      await this.#waitStable(bases[last]! + BigInt(batches[last]!.length - 1));
    }
    return bases;
  }

  async #waitStable(last: bigint): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const end = await this.#ctx.driver.lastStable(this.#ctx.topic);
      if (end > last || this.#closed) return;
      await delay(Math.min(1 + attempt, 10));
    }
  }

  readonly #publish = (stage: KafkaWriterStage['stage']): void => {
    const event: KafkaWriterStage = { topic: this.#ctx.topic, term: this.#ctx.channel.term, stage };
    stageChannel.publish(event);
  };

  /** True when `stamp` proves a newer owner wrote. */
  #staleAgainst(stamp: Stamp | undefined): boolean {
    if (!stamp) return false;
    const term = this.#ctx.channel.term;
    if (stamp.term > term) return true;
    // Same term, another writer instance: it took over after us (a re-open at the same term wins).
    return this.#established && stamp.term === term && stamp.writer !== this.#id;
  }

  async #establish(): Promise<void> {
    const { driver, topic, options } = this.#ctx;
    if (!this.#transactional) {
      await this.#writer?.close();
      this.#writer = driver.writer({ topic });
      await this.#writer.init();
      this.#healthy = true;
      return;
    }
    const timeout = options.operationTimeoutMs;
    if (this.#established) await this.#graceForNewerOpener(timeout);
    for (let attempt = 1; attempt <= MAX_TAKEOVERS; attempt++) {
      // Checked before InitProducerId as well, so a stale writer does not disturb the owner's epoch.
      this.#checkStamp(await readLastStamp(driver, topic, timeout));
      await this.#writer?.close();
      this.#writer = driver.writer({ topic, transactionalId: options.transactionalIdPrefix + topic });
      await bounded(this.#writer.init(), timeout, `InitProducerId for ${topic}`);
      // After InitProducerId no earlier transaction of this id is pending, so the last stable record is final.
      this.#checkStamp(await readLastStamp(driver, topic, timeout));
      try {
        [this.#lastOffset] = await bounded(
          this.#commit([[openMarker(this.#stamp!)]]),
          timeout,
          `open ${topic}`,
        );
        this.#established = true;
        this.#healthy = true;
        this.#ctx.observability.logger.debug(
          { topic, offset: String(this.#lastOffset) },
          'kafka writer took the pchannel (open marker written)',
        );
        return;
      } catch (error) {
        const kind = driver.classify(error);
        if (kind !== 'fenced' && kind !== 'unavailable') throw error;
        // Another writer bumped the epoch between our InitProducerId and our marker (its EndTxn then fails
        // with a fenced code, or UNKNOWN_SERVER_ERROR when it lands mid epoch fence): check the stamp again.
        // A stale writer stops once it sees our marker, so the retries end; an older term must not make
        // this open fail.
        this.#report(error, 'lost the producer epoch while taking the pchannel; trying again');
        await delay(Math.min(10 * attempt, 50));
      }
    }
    throw new WalError(
      'UNAVAILABLE',
      `${topic}: lost the producer epoch ${MAX_TAKEOVERS} times in a row while taking the pchannel`,
    );
  }

  /**
   * Waits up to `takeoverGraceMs` for a newer opener's marker before the epoch is taken back, rejecting
   * CHANNEL_FENCED as soon as a newer term's stamp shows up. An opener proves its term with its marker
   * only after its InitProducerId, which is what fenced this writer; taking the epoch in between makes
   * both fail their transactions, and under load the two can take turns until one gives up.
   */
  async #graceForNewerOpener(timeout: number): Promise<void> {
    const { driver, topic, options } = this.#ctx;
    const deadline = Date.now() + options.takeoverGraceMs;
    for (let attempt = 1; Date.now() < deadline && !this.#closed; attempt++) {
      this.#checkStamp(await readLastStamp(driver, topic, timeout).catch(() => undefined));
      await delay(Math.min(20 * attempt, 200));
    }
  }

  #checkStamp(stamp: Stamp | undefined): void {
    if (!this.#staleAgainst(stamp)) return;
    this.#ctx.observability.logger.info(
      { term: this.#ctx.channel.term.toString(), newerTerm: stamp!.term.toString() },
      'kafka writer fenced: a newer term took the pchannel',
    );
    this.#fenced = new WalError(
      'CHANNEL_FENCED',
      `pchannel ${this.#ctx.channel.name} at term ${this.#ctx.channel.term} is fenced: term ${stamp!.term} took it over`,
      { retriable: false, details: { term: this.#ctx.channel.term, newerTerm: stamp!.term, written: false } },
    );
    void this.#writer?.close();
    this.#writer = undefined;
    throw this.#fenced;
  }

  /** A failure the writer rides out by itself (re-created producer, epoch taken back): for alerting. */
  #report(error: unknown, what: string): void {
    if (this.#closed) return;
    this.#ctx.observability.reportError({
      error: toWalError(error, 'UNAVAILABLE', `${this.#ctx.topic}: ${what}`),
      component: 'kafka.writer',
      pchannel: this.#ctx.channel.name,
      retrying: true,
    });
  }

  /**
   * Settles a transaction that failed. Fenced after its records reached the driver, the writer looks in
   * the log for what the transaction did rather than answering CHANNEL_FENCED for all of it: frozen past
   * its timeouts after the EndTxn was answered, a writer's transaction is committed, yet the writer only
   * learns it is fenced. Once a newer term's stamp is in the log every transaction of this writer is
   * final (the newer InitProducerId completed it), so the log answers for good.
   */
  async #failed(groups: Pending[][], error: unknown, sent: boolean): Promise<void> {
    const coded = this.#toWalError(error);
    const fenced = this.#fenced;
    if (!fenced || !hasCode(coded, 'CHANNEL_FENCED')) {
      for (const batch of groups) for (const pending of batch) settle(pending, () => pending.reject(coded));
      return;
    }
    const outcome: Landing = sent ? await this.#landing(groups) : { kind: 'absent' };
    if (outcome.kind === 'landed') {
      this.#ctx.observability.logger.info(
        { topic: this.#ctx.topic, records: outcome.offsets.length },
        'kafka writer fenced after its last transaction committed: its appends are acknowledged',
      );
      let next = 0;
      for (const batch of groups)
        for (const pending of batch) {
          const offset = outcome.offsets[next++]!;
          settle(pending, () => pending.resolve(offset));
        }
      return;
    }
    const rejection =
      outcome.kind === 'absent'
        ? fenced
        : new WalError(
            'CHANNEL_FENCED',
            `${fenced.message}; whether the last transaction landed is unknown (${outcome.why})`,
            { retriable: false, cause: error, details: { ...fenced.details, written: 'unknown' } },
          );
    for (const batch of groups) for (const pending of batch) settle(pending, () => pending.reject(rejection));
  }

  /**
   * Where the records of `groups` are in the log, if there: the committed records after this writer's
   * last known record, up to the newer term's first stamp, cut into this writer's transactions (each
   * ends with its stamp); the last one holding exactly these records is the failed transaction.
   */
  async #landing(groups: Pending[][]): Promise<Landing> {
    const { driver, topic, options } = this.#ctx;
    const expected = groups.flat().map((pending) => pending.record);
    try {
      const { end } = await bounded(driver.bounds(topic), options.operationTimeoutMs, `bounds of ${topic}`);
      const from = this.#lastOffset === undefined ? 0n : this.#lastOffset + 1n;
      if (from >= end) return { kind: 'absent' };
      // The transaction sits right after this writer's last known record (its commit marker takes one
      // offset more); the newer term may have written much since, which need not be read.
      const window = from + BigInt(2 * expected.length + 64);
      const until = window < end ? window : end;
      const records = await readRange(driver, topic, from, until, options.operationTimeoutMs);
      let found: InRecord[] | undefined;
      let transaction: InRecord[] = [];
      let sawNewer = false;
      for (const record of records) {
        const stamp = stampOf(record);
        transaction.push(record);
        if (!stamp) continue;
        if (stamp.writer !== this.#id) {
          sawNewer = true;
          break;
        }
        if (sameRecords(transaction, expected)) found = transaction;
        transaction = [];
      }
      if (found) return { kind: 'landed', offsets: found.map((record) => record.offset) };
      if (sawNewer) return { kind: 'absent' };
      return { kind: 'unknown', why: `no newer term's stamp in offsets ${from}..${until}` };
    } catch (error) {
      return { kind: 'unknown', why: `the log could not be read: ${errorMessage(error)}` };
    }
  }

  #toWalError(error: unknown): WalError {
    if (WalError.is(error)) return error;
    const kind = this.#ctx.driver.classify(error);
    if (kind === 'tooLarge') return tooLarge(this.#ctx.topic, undefined, this.#ctx.maxMessageBytes, error);
    if (kind === 'unavailable' || kind === 'fenced') {
      return new WalError('UNAVAILABLE', `append to ${this.#ctx.topic}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    return new WalError('UNKNOWN', `append to ${this.#ctx.topic}: ${errorMessage(error)}`, { cause: error });
  }
}

type Landing =
  | { readonly kind: 'landed'; readonly offsets: readonly bigint[] }
  | { readonly kind: 'absent' }
  | { readonly kind: 'unknown'; readonly why: string };

/** True when `found` are the records written for `expected` (the stamp header aside). */
function sameRecords(found: readonly InRecord[], expected: readonly OutRecord[]): boolean {
  if (found.length !== expected.length) return false;
  return found.every((record, i) => {
    const want = expected[i]!;
    if (!record.value.equals(want.value)) return false;
    const headers = record.headers.filter(([key]) => key !== STAMP_HEADER);
    return (
      headers.length === want.headers.length &&
      headers.every(([key, value], h) => key === want.headers[h]![0] && value.equals(want.headers[h]![1]))
    );
  });
}

function settle(pending: Pending, action: () => void): void {
  if (pending.settled) return;
  pending.settled = true;
  action();
}

function closedError(channel: PChannelInfo): WalError {
  return new WalError('CLOSED', `kafka WAL ${channel.name} is closed`, { retriable: false });
}

function tooLarge(topic: string, size: number | undefined, limit: number, cause?: unknown): WalError {
  return new WalError(
    'INVALID_ARGUMENT',
    `message${size === undefined ? '' : ` of ~${size} bytes`} exceeds the max.message.bytes limit of ${limit} bytes of topic ${topic}`,
    { retriable: false, cause, details: { limit, ...(size === undefined ? {} : { size }) } },
  );
}
