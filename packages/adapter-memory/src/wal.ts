import { setMaxListeners } from 'node:events';
import type {
  DeliverPolicy,
  Logger,
  MessageID,
  MutableMessage,
  PChannelInfo,
  WalError,
} from '@walstream/core';
import { delay, integerOption } from '@walstream/core/internal';
import {
  type AppendOptions,
  abortError,
  type RawScanner,
  type ReadOptions,
  type WalImpls,
} from '@walstream/core/spi';
import type { ChannelLog } from './channel-log.js';
import { errors } from './errors.js';
import { asMemoryMessageId, MEMORY_WAL_NAME } from './message-id.js';
import { createMemoryScanner } from './scanner.js';

/**
 * One pchannel opened at one term: a view on the store's log. Closing it closes its scanners and fails
 * appends still waiting on an injected delay; the data stays in the store.
 */
export class MemoryWal implements WalImpls {
  readonly walName = MEMORY_WAL_NAME;
  readonly channel: PChannelInfo;
  readonly #log: ChannelLog;
  readonly #readOnly: boolean;
  readonly #scanners = new Set<RawScanner>();
  readonly #closing = new AbortController();
  readonly #logger: Logger;
  readonly #onClosed: (wal: MemoryWal) => void;
  #closed: Promise<void> | undefined;

  constructor(log: ChannelLog, channel: PChannelInfo, logger: Logger, onClosed: (wal: MemoryWal) => void) {
    this.#log = log;
    this.#logger = logger;
    this.channel = Object.freeze({ name: channel.name, term: channel.term, accessMode: channel.accessMode });
    this.#readOnly = channel.accessMode === 'ro';
    this.#onClosed = onClosed;
    // Every append waiting on an injected delay listens to this one signal: hundreds at once by design.
    setMaxListeners(0, this.#closing.signal);
  }

  // Not `async`: the unfaulted path settles with one already-resolved promise and nothing else.
  append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
    const signal = options?.signal;
    const refused = this.#refuseWrite('append', signal);
    if (refused) return Promise.reject(refused);
    if (typeof (message as Partial<MutableMessage> | null)?.intoImmutable !== 'function') {
      return Promise.reject(errors.invalid('append needs a MutableMessage', this.channel.name));
    }
    if (this.#log.faults.appendFaulty) return this.#appendWithFaults(message, signal);
    try {
      return Promise.resolve(this.#log.append(message));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async truncate(id: MessageID, options?: AppendOptions): Promise<void> {
    const refused = this.#refuseWrite('truncate', options?.signal);
    if (refused) throw refused;
    const { offset } = asMemoryMessageId(id);
    if (offset >= this.#log.nextOffset) {
      throw errors.invalid(
        `truncate to ${String(id)}: that id was never written (next offset is ${this.#log.nextOffset})`,
        this.channel.name,
      );
    }
    this.#log.truncateBefore(offset);
  }

  /**
   * Starts a reader. A position below the retained range (truncated) starts at the first retained entry;
   * a position beyond the end waits for that entry.
   */
  async read(options: ReadOptions): Promise<RawScanner> {
    if (this.#closed) throw errors.closed('read', this.channel.name);
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, `read of pchannel ${this.channel.name}`);
    if (typeof options?.name !== 'string')
      throw errors.invalid('read needs a scanner name', this.channel.name);
    // A positive integer; absent: the default size.
    const size = integerOption(
      `read of pchannel ${this.channel.name}`,
      'readAheadBufferSize',
      options.readAheadBufferSize,
      0,
      {
        min: 1,
      },
    );

    const onAbort = () => void scanner.close();
    const scanner: RawScanner = createMemoryScanner(this.#log, {
      name: options.name,
      start: this.#startOffset(options.deliverPolicy),
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
    this.#closing.abort();
    await Promise.all([...this.#scanners].map((scanner) => scanner.close()));
    this.#onClosed(this);
    this.#logger.debug({}, 'memory WAL closed');
  }

  async #appendWithFaults(message: MutableMessage, signal: AbortSignal | undefined): Promise<MessageID> {
    const faults = this.#log.faults;
    const delayMs = faults.config.appendDelayMs;
    if (delayMs > 0) {
      const closing = this.#closing.signal;
      try {
        await delay(delayMs, signal ? AbortSignal.any([signal, closing]) : closing);
      } catch {
        // The caller's abort wins; a WAL close is answered below (CLOSED), like the other changes.
        if (signal?.aborted) throw abortError(signal, `append to pchannel ${this.channel.name}`);
      }
      // The world may have changed while we waited: closed, fenced by a newer term.
      const refused = this.#refuseWrite('append', signal);
      if (refused) throw refused;
    }
    if (faults.config.fenced) throw this.#injected(errors.fencedByFault(this.channel.name));
    if (faults.rollAppendError()) throw this.#injected(errors.injectedUnavailable(this.channel.name));
    const id = this.#log.append(message);
    if (faults.rollLostAck()) throw this.#injected(errors.injectedLostAck(this.channel.name));
    return id;
  }

  /** Logs an injected fault (debug: the caller gets the error; the line says it was made on purpose). */
  #injected(error: WalError): WalError {
    this.#logger.debug(
      { code: error.code, written: error.details.written },
      `injected fault: ${error.message}`,
    );
    return error;
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
    return undefined;
  }

  #startOffset(policy: DeliverPolicy): number {
    switch (policy?.kind) {
      case 'all':
        return this.#log.firstOffset;
      case 'latest':
        return this.#log.nextOffset;
      case 'startFrom':
        return asMemoryMessageId(policy.id).offset;
      case 'startAfter':
        return asMemoryMessageId(policy.id).offset + 1;
      default:
        throw errors.invalid(
          `unknown deliver policy ${JSON.stringify((policy as { kind?: unknown } | undefined)?.kind)}`,
          this.channel.name,
        );
    }
  }
}
