import type {
  DeliverPolicy,
  Logger,
  MessageID,
  MutableMessage,
  PChannelInfo,
  WalError,
} from '@walstream/core';
import { integerOption } from '@walstream/core/internal';
import {
  type AppendOptions,
  abortError,
  type RawScanner,
  type ReadOptions,
  type WalImpls,
} from '@walstream/core/spi';
import { errors } from './errors.js';
import { encodeRecord } from './format/record.js';
import { asLocalMessageId, LOCAL_WAL_NAME, LocalMessageId } from './message-id.js';
import { createLocalScanner } from './scanner.js';
import type { ChannelLog, Pending } from './store/channel-log.js';

/**
 * One pchannel opened at one term: a view on the process's log of that pchannel. Closing it closes its
 * scanners and waits for its appends in flight (they are in the group-commit queue and land); the data
 * stays on disk.
 */
export class LocalWal implements WalImpls {
  readonly walName = LOCAL_WAL_NAME;
  readonly channel: PChannelInfo;
  readonly #log: ChannelLog;
  readonly #readOnly: boolean;
  readonly #scanners = new Set<RawScanner>();
  readonly #logger: Logger;
  readonly #onClosed: (wal: LocalWal) => Promise<void>;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(
    log: ChannelLog,
    channel: PChannelInfo,
    logger: Logger,
    onClosed: (wal: LocalWal) => Promise<void>,
  ) {
    this.#log = log;
    this.#logger = logger;
    this.channel = Object.freeze({ name: channel.name, term: channel.term, accessMode: channel.accessMode });
    this.#readOnly = channel.accessMode === 'ro';
    this.#onClosed = onClosed;
  }

  append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
    const signal = options?.signal;
    const refused = this.#refuseWrite('append', signal);
    if (refused) return Promise.reject(refused);
    if (typeof (message as Partial<MutableMessage> | null)?.intoImmutable !== 'function') {
      return Promise.reject(errors.invalid('append needs a MutableMessage', this.channel.name));
    }
    const record = encodeRecord(message, this.#log.arena.allocate);
    if (!Buffer.isBuffer(record)) {
      return Promise.reject(
        errors.invalid(
          `append: property ${JSON.stringify(record.badProperty)} is not well-formed UTF-16 (a lone surrogate cannot be stored)`,
          this.channel.name,
        ),
      );
    }
    if (record.length > this.#log.options.maxRecordBytes) {
      return Promise.reject(
        errors.tooLarge(this.channel.name, record.length, this.#log.options.maxRecordBytes),
      );
    }
    this.#inFlight++;
    return new Promise<MessageID>((resolve, reject) => {
      this.#log.append(new AppendRequest(record, this.channel.term, this, resolve, reject), signal);
    });
  }

  /** An append of this WAL settled (see {@link close}, which waits for them). */
  settled(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#idle?.();
  }

  async truncate(id: MessageID, options?: AppendOptions): Promise<void> {
    const refused = this.#refuseWrite('truncate', options?.signal);
    if (refused) throw refused;
    const { offset } = asLocalMessageId(id);
    if (offset >= this.#log.nextOffset) {
      throw errors.invalid(
        `truncate to ${String(id)}: that id was never written (the next offset is ${this.#log.nextOffset})`,
        this.channel.name,
      );
    }
    await this.#log.truncate(offset);
  }

  /**
   * Starts a reader. A position below the retained range (truncated) starts at the first retained record;
   * a position beyond the end waits for that record.
   */
  async read(options: ReadOptions): Promise<RawScanner> {
    if (this.#closed) throw errors.closed('read', this.channel.name);
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, `read of pchannel ${this.channel.name}`);
    if (typeof options?.name !== 'string')
      throw errors.invalid('read needs a scanner name', this.channel.name);
    const size = integerOption(
      `read of pchannel ${this.channel.name}`,
      'readAheadBufferSize',
      options.readAheadBufferSize,
      0,
      {
        min: 1,
      },
    );
    const start = this.#startOffset(options.deliverPolicy);
    const onAbort = () => void scanner.close();
    const scanner: RawScanner = createLocalScanner(this.#log, {
      name: options.name,
      start,
      ...(size > 0 ? { readAheadBufferSize: size } : {}),
      release: () => {
        this.#scanners.delete(scanner);
        signal?.removeEventListener('abort', onAbort);
      },
    });
    this.#scanners.add(scanner);
    // Aborting a read closes its scanner, as the runtime's ScanOptions document.
    signal?.addEventListener('abort', onAbort, { once: true });
    return scanner;
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    await Promise.all([...this.#scanners].map((scanner) => scanner.close()));
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    await this.#onClosed(this);
    this.#logger.debug({}, 'local WAL closed');
  }

  /** Why a write may not proceed now, or undefined. Ordered from the most permanent reason. */
  #refuseWrite(what: string, signal: AbortSignal | undefined): WalError | undefined {
    const name = this.channel.name;
    if (this.#readOnly) return errors.readOnly(what, name);
    if (this.#closed) return errors.closed(what, name);
    if (signal?.aborted) return abortError(signal, `${what} of pchannel ${name}`);
    if (this.channel.term < this.#log.highestTerm) {
      return errors.fencedByTerm(what, name, this.channel.term, this.#log.highestTerm);
    }
    if (this.#log.failure !== undefined) return errors.failed(what, name, this.#log.failure);
    return undefined;
  }

  #startOffset(policy: DeliverPolicy): number {
    switch (policy?.kind) {
      case 'all':
        return this.#log.firstOffset;
      case 'latest':
        return this.#log.nextOffset;
      case 'startFrom':
        return asLocalMessageId(policy.id).offset;
      case 'startAfter':
        return asLocalMessageId(policy.id).offset + 1;
      default:
        throw errors.invalid(
          `unknown deliver policy ${JSON.stringify((policy as { kind?: unknown } | undefined)?.kind)}`,
          this.channel.name,
        );
    }
  }
}

/** One append on its way through the log: settles the caller's promise and tells its WAL. */
class AppendRequest implements Pending {
  taken = false;
  onSettled: (() => void) | undefined = undefined;
  readonly bytes: Buffer;
  readonly term: bigint;
  readonly #wal: LocalWal;
  readonly #resolve: (id: MessageID) => void;
  readonly #reject: (error: WalError) => void;
  #done = false;

  constructor(
    bytes: Buffer,
    term: bigint,
    wal: LocalWal,
    resolve: (id: MessageID) => void,
    reject: (error: WalError) => void,
  ) {
    this.bytes = bytes;
    this.term = term;
    this.#wal = wal;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  resolve(offset: number): void {
    if (this.#done) return;
    this.#done = true;
    this.onSettled?.();
    this.#wal.settled();
    this.#resolve(new LocalMessageId(offset));
  }

  reject(error: WalError): void {
    if (this.#done) return;
    this.#done = true;
    this.onSettled?.();
    this.#wal.settled();
    this.#reject(error);
  }
}
