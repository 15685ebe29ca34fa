import { type MessageID, type MutableMessage, type PChannelInfo, WalError } from '@walstream/core';
import { integerOption } from '@walstream/core/internal';
import {
  type AppendOptions,
  abortError,
  type RawScanner,
  type ReadOptions,
  toWalError,
  type WalImpls,
} from '@walstream/core/spi';
import { asKafkaMessageId, KAFKA_WAL_NAME, KafkaMessageId } from './message-id.js';
import { toOutRecord } from './records.js';
import { openScanner } from './scanner.js';
import { bounded } from './util.js';
import { WalWriter, type WriterContext } from './writer.js';

/** What a WAL runs on: what its writer needs, and who to tell when it closed. */
export interface KafkaWalContext extends WriterContext {
  readonly onClose: (wal: KafkaWal) => void;
}

/** One pchannel (a topic, partition 0) opened at one term, RW or RO. */
export class KafkaWal implements WalImpls {
  readonly walName = KAFKA_WAL_NAME;
  readonly channel: PChannelInfo;
  readonly topic: string;
  readonly #ctx: KafkaWalContext;
  readonly #writer: WalWriter | undefined;
  readonly #scanners = new Set<RawScanner>();
  #closed: Promise<void> | undefined;

  constructor(ctx: KafkaWalContext) {
    this.#ctx = ctx;
    this.channel = ctx.channel;
    this.topic = ctx.topic;
    this.#writer = ctx.channel.accessMode === 'rw' ? new WalWriter(ctx) : undefined;
  }

  /** Takes the pchannel for writing (RW only): the fence. */
  async start(): Promise<void> {
    await this.#writer?.start();
  }

  async append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
    const writer = this.#writable('append');
    if (options?.signal?.aborted) throw abortError(options.signal, 'kafka append');
    // The writer adds the term stamp to the last record of each transaction.
    const offset = await writer.append(toOutRecord(message), options?.signal);
    return new KafkaMessageId(offset);
  }

  async read(options: ReadOptions): Promise<RawScanner> {
    if (this.#closed) throw this.#closedError();
    if (options?.signal?.aborted) throw abortError(options.signal, 'kafka read');
    // Checked before anything starts: a positive integer; absent: the default size.
    const size = integerOption(
      `read of pchannel ${this.channel.name}`,
      'readAheadBufferSize',
      options.readAheadBufferSize,
      0,
      { min: 1 },
    );
    const { observability, channel } = this.#ctx;
    let scanner: RawScanner;
    try {
      scanner = await openScanner({
        driver: this.#ctx.driver,
        topic: this.topic,
        name: options.name,
        deliverPolicy: options.deliverPolicy,
        ...(size > 0 ? { readAheadBufferSize: size } : {}),
        observability,
        onRetry: (error) =>
          observability.reportError({
            error: toWalError(error, 'UNAVAILABLE', `scanner ${options.name} of ${this.topic}`),
            component: 'kafka.scanner',
            pchannel: channel.name,
            retrying: true,
          }),
      });
    } catch (error) {
      // Closed while the scanner was starting: the close is the answer, not what it interrupted.
      if (this.#closed) throw this.#closedError();
      throw error;
    }
    if (this.#closed) {
      await scanner.close();
      throw this.#closedError();
    }
    this.#scanners.add(scanner);
    const { signal } = options;
    const onAbort = () => void scanner.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    void scanner.done.then(() => {
      this.#scanners.delete(scanner);
      signal?.removeEventListener('abort', onAbort);
    });
    return scanner;
  }

  /**
   * DeleteRecords before `id` (the entry at `id` stays readable). The newest record this writer wrote
   * is always kept: it carries the term stamp that fences lower terms (see docs/adapter-kafka.md).
   */
  async truncate(id: MessageID, options?: AppendOptions): Promise<void> {
    const writer = this.#writable('truncate');
    const offset = asKafkaMessageId(id).offset;
    if (options?.signal?.aborted) throw abortError(options.signal, 'kafka truncate');
    const { driver, options: config } = this.#ctx;
    let before = offset;
    const keep = writer.lastOffset;
    if (keep !== undefined && before > keep) before = keep;
    const { start, end } = await bounded(
      driver.bounds(this.topic),
      config.operationTimeoutMs,
      'truncate',
      options?.signal,
    );
    if (before > end) before = end;
    if (before <= start) return;
    try {
      await bounded(
        driver.deleteRecords(this.topic, before),
        config.operationTimeoutMs,
        'truncate',
        options?.signal,
      );
    } catch (error) {
      if (WalError.is(error)) throw error;
      throw new WalError('UNAVAILABLE', `truncate ${this.topic} before ${before}: ${String(error)}`, {
        cause: error,
      });
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#scanners].map((scanner) => scanner.close()));
      await this.#writer?.close();
      this.#ctx.onClose(this);
      this.#ctx.observability.logger.debug({}, 'kafka WAL closed');
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #writable(what: string): WalWriter {
    if (this.#closed) throw this.#closedError();
    if (!this.#writer) {
      throw new WalError('READ_ONLY', `${what} on pchannel ${this.channel.name} opened read-only`, {
        retriable: false,
      });
    }
    return this.#writer;
  }

  #closedError(): WalError {
    return new WalError('CLOSED', `kafka WAL ${this.channel.name} is closed`, { retriable: false });
  }
}
