import type { Attributes } from '@opentelemetry/api';
import { BehaviorSubject, type Observable, Subject } from 'rxjs';
import type { PChannelInfo } from '../channel/channel.js';
import { abortError, hasCode, WalError } from '../errors/wal-error.js';
import type { MutableMessage } from '../message/message.js';
import { encodeBase36 } from '../message/properties.js';
import type { MessageID } from '../message-id/message-id.js';
import { appendChannel, readChannel } from '../observability/channels.js';
import type { Observability } from '../observability/observability.js';
import type { WalMetrics } from '../observability/wal-metrics.js';
import { checkKnownKeys } from '../options/check.js';
import type { TimestampAllocator } from '../timetick/allocator.js';
import type { DeliverPolicy } from '../walimpls/deliver-policy.js';
import type { WalImpls } from '../walimpls/spi.js';
import { appendToAdapter, DEFAULT_APPEND_RETRY } from './append-retry.js';
import { ForeignRecords, type ForeignRecordsPolicy } from './foreign.js';
import type { AppendContext, AppendNext, AppendResult, Interceptor } from './interceptor.js';
import { checkScanOptions } from './scan-options.js';
import { WalScanner } from './scanner.js';
import type { TailBuffer } from './tail-buffer.js';
import type { AppendNotification, Scanner, ScanOptions, Wal, WalAppendOptions, WalState } from './wal.js';

const NO_OPTIONS = Object.freeze({});

/** Append options are few; a loop over keys is cheap enough for every append. */
function checkAppendOptions(options: WalAppendOptions): void {
  for (const key in options) {
    if (key !== 'signal') checkKnownKeys('wal.append', options, ['signal']);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new WalError('INVALID_ARGUMENT', 'wal.append: option signal must be an AbortSignal', {
      retriable: false,
      details: { option: 'signal' },
    });
  }
}

/** What the opener builds a WAL from. */
export interface WalRuntimeParts {
  readonly impls: WalImpls;
  readonly interceptors: readonly Interceptor[];
  readonly allocator: TimestampAllocator;
  readonly onClosed: () => void;
  readonly observability: Observability;
  readonly metrics: WalMetrics;
  readonly options?: WalRuntimeOptions;
  /** The stack's foreign-records policy (default: skip, reported through `observability`). */
  readonly foreign?: ForeignRecords;
}

export interface WalRuntimeOptions {
  /** Backoff of the adapter append retry (default 10 ms doubling to 5 s, as the original). */
  readonly appendRetry?: { readonly initialMs: number; readonly maxMs: number };
  /**
   * What readers and recovery of a stack that writes TimeTicks do with a record that is not a walstream
   * message: `skip` (default; counted in `walstream.foreign_records` and warned about) or `fail`.
   */
  readonly foreignRecords?: ForeignRecordsPolicy;
}

/**
 * A pchannel's WAL: the adapter WAL behind the interceptor chain. Owns the lifecycle (available →
 * fenced | closing → closed), retries passing adapter faults, and hands out scanners.
 */
export class WalRuntime implements Wal {
  readonly walName: string;
  readonly channel: PChannelInfo;
  readonly #impls: WalImpls;
  readonly #interceptors: readonly Interceptor[];
  readonly #allocator: TimestampAllocator;
  readonly #chain: AppendNext;
  readonly #termText: string;
  readonly #ordered: boolean;
  readonly #tailBuffer: TailBuffer | undefined;
  #ready: Promise<void> | undefined;
  readonly #retry: { readonly initialMs: number; readonly maxMs: number };
  readonly #state = new BehaviorSubject<WalState>('available');
  readonly #appended = new Subject<AppendNotification>();
  readonly #scanners = new Set<Scanner>();
  readonly #onClosed: () => void;
  readonly #observability: Observability;
  readonly #metrics: WalMetrics;
  readonly #untrack: () => void;
  readonly #attributes: Attributes;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #scannerSeq = 0;
  #closing: Promise<void> | undefined;
  readonly #foreign: ForeignRecords;

  constructor({
    impls,
    interceptors,
    allocator,
    onClosed,
    observability,
    metrics,
    options = {},
    foreign,
  }: WalRuntimeParts) {
    this.#impls = impls;
    this.#observability = observability;
    this.#metrics = metrics;
    this.#untrack = metrics.trackWal(this);
    this.#attributes = { pchannel: impls.channel.name };
    this.walName = impls.walName;
    this.channel = impls.channel;
    this.#interceptors = interceptors;
    this.#allocator = allocator;
    this.#onClosed = onClosed;
    this.#retry = options.appendRetry ?? DEFAULT_APPEND_RETRY;
    this.#foreign = foreign ?? new ForeignRecords(options.foreignRecords ?? 'skip', observability);
    this.#chain = interceptors.reduceRight<AppendNext>(
      (next, interceptor) => (message, context) => interceptor.doAppend(message, context, next),
      (message, context) => this.#appendToAdapter(message, context),
    );
    this.#termText = encodeBase36(this.channel.term);
    this.#ordered = interceptors.some((interceptor) => interceptor.writesTimeTicks === true);
    this.#tailBuffer = interceptors.find((interceptor) => interceptor.tailBuffer)?.tailBuffer;
    const waits = interceptors.filter((i) => i.ready).map((i) => i.ready!());
    if (waits.length > 0) {
      this.#ready = Promise.all(waits).then(() => {
        this.#ready = undefined;
      });
    }
  }

  get state(): WalState {
    return this.#state.value;
  }

  get state$(): Observable<WalState> {
    return this.#state.asObservable();
  }

  get appended$(): Observable<AppendNotification> {
    return this.#appended.asObservable();
  }

  append(message: MutableMessage, options: WalAppendOptions = {}): Promise<AppendResult> {
    if (!appendChannel.hasSubscribers) return this.#append(message, options);
    const context = {
      pchannel: this.channel.name,
      vchannel: message.vchannel,
      messageType: message.messageType,
    };
    return appendChannel.tracePromise(() => this.#append(message, options), context);
  }

  async #append(message: MutableMessage, options: WalAppendOptions): Promise<AppendResult> {
    this.#assertWritable();
    if (options !== NO_OPTIONS) checkAppendOptions(options);
    const signal = options.signal;
    if (signal?.aborted) throw abortError(signal, 'append');
    const started = performance.now();
    this.#inFlight++;
    this.#metrics.appendInFlight.add(1, this.#attributes);
    let outcome = 'ok';
    try {
      if (this.#ready) await this.#ready;
      message.withWalTerm(this.#termText);
      const context: AppendContext = { channel: this.channel, signal, result: {} };
      const messageId = await this.#chain(message, context);
      const timeTick = context.result.timeTick ?? message.timeTick!;
      this.#metrics.appendSize.add(message.estimateSize(), this.#attributes);
      if (this.#appended.observed) {
        this.#appended.next({
          messageId,
          timeTick,
          vchannel: message.vchannel,
          messageType: message.messageType,
        });
      }
      return { messageId, timeTick, txn: context.result.txn, extra: context.result.extra };
    } catch (error) {
      outcome = WalError.is(error) ? error.code : 'UNKNOWN';
      if (hasCode(error, 'CHANNEL_FENCED')) this.#setState('fenced');
      throw error;
    } finally {
      this.#metrics.appendInFlight.add(-1, this.#attributes);
      this.#metrics.appendDuration.record(performance.now() - started, {
        pchannel: this.channel.name,
        outcome,
      });
      if (--this.#inFlight === 0) this.#drained?.();
    }
  }

  read(options: ScanOptions = {}): Promise<Scanner> {
    if (!readChannel.hasSubscribers) return this.#read(options);
    const context = { pchannel: this.channel.name, vchannel: options.vchannel, scanner: options.name ?? '' };
    return readChannel.tracePromise(() => this.#read(options), context);
  }

  async #read(options: ScanOptions): Promise<Scanner> {
    if (this.#closing) throw this.#closedError();
    const checked = checkScanOptions(this.walName, options);
    const name = options.name ?? `${this.channel.name}/${this.channel.term}/${++this.#scannerSeq}`;
    const openRaw = (deliverPolicy: DeliverPolicy) =>
      this.#impls.read({
        name,
        deliverPolicy,
        readAheadBufferSize: checked.readAheadBufferSize,
        signal: options.signal,
      });
    const firstRaw = await openRaw(checked.deliverPolicy);
    const scanner: Scanner = new WalScanner(
      {
        channel: this.channel,
        openRaw,
        firstRaw,
        ordered: this.#ordered,
        // Only a stack that writes TimeTicks knows what its own messages look like.
        ...(this.#ordered
          ? { foreign: this.#foreign.checker(`scanner ${name}`, this.channel.name, this.walName) }
          : {}),
        tailBuffer: this.#tailBuffer,
        metrics: this.#metrics,
        onClose: () => this.#scanners.delete(scanner),
      },
      options,
    );
    this.#scanners.add(scanner);
    return scanner;
  }

  async truncate(id: MessageID): Promise<void> {
    this.#assertWritable();
    await this.#impls.truncate(id);
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    if (this.state !== 'closed') this.#setState('closing');
    for (const interceptor of this.#interceptors) await interceptor.gracefulClose?.();
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    await Promise.all([...this.#scanners].map((scanner) => scanner.close()));
    await this.#impls.close();
    for (const interceptor of [...this.#interceptors].reverse()) await interceptor.close?.();
    this.#setState('closed');
    this.#untrack();
    this.#observability.logger.debug({ pchannel: this.channel.name, term: this.channel.term }, 'wal closed');
    this.#state.complete();
    this.#appended.complete();
    this.#onClosed();
  }

  /** The innermost step: stamp what no interceptor stamped, then write, retrying passing faults. */
  async #appendToAdapter(message: MutableMessage, context: AppendContext): Promise<MessageID> {
    if (context.skipWriteWith) return context.skipWriteWith;
    // Without a timetick interceptor in the stack every message still gets an ordered timetick.
    if (message.timeTick === undefined) {
      message.withTimeTick(this.#allocator.allocateNow?.() ?? (await this.#allocator.allocate()));
    }
    return appendToAdapter(this.#impls, message, {
      retry: this.#retry,
      signal: context.signal,
      stopped: this.#stopped,
    });
  }

  readonly #stopped = (maybeWritten: boolean): WalError | undefined =>
    this.#closing === undefined
      ? undefined
      : maybeWritten
        ? this.#unconfirmedOnShutdown()
        : this.#closedError();

  #assertWritable(): void {
    if (this.channel.accessMode === 'ro') {
      throw new WalError('READ_ONLY', `pchannel ${this.channel.name} is open read-only`, {
        retriable: false,
      });
    }
    if (this.#closing) throw this.#closedError();
    if (this.state === 'fenced') {
      throw new WalError(
        'CHANNEL_FENCED',
        `pchannel ${this.channel.name} at term ${this.channel.term} was fenced by a newer term`,
        {
          retriable: false,
        },
      );
    }
  }

  /** The owner closed this WAL: nothing done on it can succeed again, so nothing is retriable. */
  #closedError(): WalError {
    return new WalError('CLOSED', `wal of pchannel ${this.channel.name} was closed`, { retriable: false });
  }

  /**
   * Not retriable, unlike a plain shutdown: the append may be in the log, and retrying it on the next
   * WAL would write it again under a new timetick, a copy no reader can tell from a new message.
   * `details.written: 'unknown'` says so explicitly (`appendOutcome()` reads it), so the interceptors can
   * tell it from failures that come before any write.
   */
  #unconfirmedOnShutdown(): WalError {
    return new WalError(
      'ON_SHUTDOWN',
      `wal of pchannel ${this.channel.name} closed before an append could be confirmed: it may have landed`,
      { retriable: false, details: { written: 'unknown' } },
    );
  }

  #setState(state: WalState): void {
    if (this.#state.value === state || this.#state.value === 'closed') return;
    if (state === 'fenced') {
      this.#observability.logger.warn(
        { pchannel: this.channel.name, term: this.channel.term },
        'wal fenced by a newer term: appends now fail CHANNEL_FENCED',
      );
    }
    this.#state.next(state);
  }
}
