import { BehaviorSubject, Observable, Subject } from 'rxjs';
import type { PChannelInfo } from '../channel/channel.js';
import type { ImmutableMessage } from '../message/message.js';
import { SystemMessageType } from '../message/message-type.js';
import type { MessageID } from '../message-id/message-id.js';
import type { WalMetrics } from '../observability/wal-metrics.js';
import { checkKnownKeys, integerOption } from '../options/check.js';
import { DeliverPolicy } from '../walimpls/deliver-policy.js';
import type { RawScanner } from '../walimpls/spi.js';
import { compileFilters } from './filters.js';
import type { ForeignCheck } from './foreign.js';
import { holdProcessWhileWaiting } from './keep-alive.js';
import { TimeTickOrderer } from './ordering/timetick-orderer.js';
import type { TailBuffer, TailReader } from './tail-buffer.js';
import type {
  DeliveriesOptions,
  Delivery,
  Scanner,
  ScannerProgress,
  ScannerState,
  ScanOptions,
} from './wal.js';

const DEFAULT_WINDOW = 64;

export interface WalScannerSource {
  readonly channel: PChannelInfo;
  /** Opens an adapter reader (catch-up mode). */
  readonly openRaw: (policy: DeliverPolicy) => Promise<RawScanner>;
  /** The first adapter reader, already open at the reader's deliver policy. */
  readonly firstRaw: RawScanner;
  /** Order by timetick and buffer txns: on when the stack writes TimeTicks. */
  readonly ordered: boolean;
  /** Recent messages kept by the WAL, for tailing without the store. */
  readonly tailBuffer?: TailBuffer;
  readonly metrics?: WalMetrics;
  /**
   * The stack's foreign-records policy for this reader: which messages to pass over, and which adapter
   * failures are an undecodable entry to read on after; throws (the scanner then fails) under `fail`.
   * Unset: every record is delivered and every failure ends the scanner.
   */
  readonly foreign?: ForeignCheck;
  readonly onClose: () => void;
}

type Mode =
  | {
      readonly kind: 'catchup';
      readonly raw: RawScanner;
      readonly iterator: AsyncIterator<ImmutableMessage>;
      readonly dropUpTo: bigint;
    }
  | { readonly kind: 'tailing'; readonly reader: TailReader };

/**
 * The runtime's reader. It pulls from the adapter (catch-up) or, once it met the WAL's tail, from the
 * tail buffer (tailing), keeps the reader's vchannel and filters, and — when the stack writes TimeTicks —
 * releases messages in timetick order with transactions resolved. Its only buffers are the adapter's
 * bounded read-ahead and what one TimeTick releases.
 */
export class WalScanner implements Scanner {
  readonly name: string;
  readonly channel: PChannelInfo;
  readonly done: Promise<Error | undefined>;
  readonly #source: WalScannerSource;
  readonly #vchannel: string | undefined;
  readonly #accept: ((message: ImmutableMessage) => boolean) | undefined;
  readonly #orderer: TimeTickOrderer | undefined;
  readonly #ready: ImmutableMessage[] = [];
  readonly #state = new BehaviorSubject<ScannerState>('running');
  readonly #progress = new Subject<ScannerProgress>();
  readonly #stop = new AbortController();
  #mode: Mode;
  #lastPulled: ImmutableMessage | undefined;
  #lastTimeTick: bigint | undefined;
  readonly #untrack: (() => void) | undefined;
  #settle!: (result: Error | undefined) => void;
  #closing: Promise<void> | undefined;

  constructor(source: WalScannerSource, options: ScanOptions) {
    this.#source = source;
    this.name = source.firstRaw.name;
    this.channel = source.channel;
    this.#vchannel = options.vchannel;
    this.#accept = compileFilters(options.filters ?? []);
    this.#orderer = source.ordered ? new TimeTickOrderer() : undefined;
    this.#mode = this.#catchup(source.firstRaw, -1n);
    this.done = new Promise((resolve) => {
      this.#settle = resolve;
    });
    options.signal?.addEventListener('abort', () => void this.close(), { once: true });
    this.#untrack = source.metrics?.trackScanner(this);
  }

  /** The timetick of the last message handed out (for the lag metric). */
  get lastTimeTick(): bigint | undefined {
    return this.#lastTimeTick;
  }

  get state$(): Observable<ScannerState> {
    return this.#state.asObservable();
  }

  get progress$(): Observable<ScannerProgress> {
    return this.#progress.asObservable();
  }

  async next(): Promise<IteratorResult<ImmutableMessage, undefined>> {
    for (;;) {
      const ready = this.#ready.shift();
      if (ready) return this.#hand(ready);
      const release = holdProcessWhileWaiting();
      let message: ImmutableMessage | undefined;
      try {
        message = await this.#pull();
      } finally {
        release();
      }
      if (message === undefined) return { value: undefined, done: true };
      if (!this.#wanted(message)) continue;
      if (!this.#orderer) return this.#hand(message);
      for (const released of this.#orderer.accept(message)) this.#ready.push(released);
      if (
        this.#mode.kind === 'catchup' &&
        message.messageType === SystemMessageType.TimeTick &&
        this.#source.tailBuffer
      ) {
        this.#tryTailing(message.timeTick);
      }
    }
  }

  deliveries$(options: DeliveriesOptions = {}): Observable<Delivery> {
    checkKnownKeys('deliveries$', options, ['window']);
    const window = integerOption('deliveries$', 'window', options.window, DEFAULT_WINDOW);
    return new Observable<Delivery>((subscriber) => {
      let unacked = 0;
      let pulling = false;
      let stopped = false;
      const pull = async (): Promise<void> => {
        if (pulling) return;
        pulling = true;
        try {
          while (!stopped && unacked < window) {
            const result = await this.next();
            if (stopped) return;
            if (result.done) {
              subscriber.complete();
              return;
            }
            unacked++;
            let acked = false;
            subscriber.next({
              message: result.value,
              ack: () => {
                if (acked) return;
                acked = true;
                unacked--;
                void pull();
              },
            });
          }
        } catch (error) {
          if (!stopped) subscriber.error(error);
        } finally {
          pulling = false;
        }
      };
      void pull();
      return () => {
        stopped = true;
        void this.close();
      };
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      await this.#leaveMode();
      this.#finish('closed', undefined);
      this.#source.onClose();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<ImmutableMessage, undefined> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /** The next message from the current source, switching sources as needed; undefined once closed. */
  async #pull(): Promise<ImmutableMessage | undefined> {
    for (;;) {
      if (this.#stop.signal.aborted) return undefined;
      const mode = this.#mode;
      if (mode.kind === 'tailing') {
        let message: ImmutableMessage | undefined;
        try {
          message = await mode.reader.next(this.#stop.signal);
        } catch (error) {
          // Closed while waiting for the tail to grow: the end of iteration, not a failure.
          if (this.#stop.signal.aborted) return undefined;
          throw await this.#fail(error);
        }
        if (this.#stop.signal.aborted) return undefined;
        if (message) {
          this.#lastPulled = message;
          return message;
        }
        await this.#fallBackToStore();
        continue;
      }
      let result: IteratorResult<ImmutableMessage>;
      try {
        result = await mode.iterator.next();
        if (!result.done && this.#source.foreign?.message(result.value)) continue;
      } catch (error) {
        let after: MessageID | undefined;
        try {
          after = this.#source.foreign?.failure(error);
        } catch (failure) {
          throw await this.#fail(failure);
        }
        if (!after || this.#stop.signal.aborted) throw await this.#fail(error);
        // An entry the adapter cannot decode, passed over: read on after it.
        try {
          await this.#leaveMode();
          this.#mode = this.#catchup(
            await this.#source.openRaw(DeliverPolicy.startAfter(after)),
            mode.dropUpTo,
          );
        } catch (reopen) {
          throw await this.#fail(reopen);
        }
        continue;
      }
      if (result.done) {
        // The adapter reader ended: closed by us, or by the WAL closing under it.
        if (this.#mode === mode) void this.close();
        return undefined;
      }
      const message = result.value;
      if (message.hasTimeTick && message.timeTick <= mode.dropUpTo) continue;
      this.#lastPulled = message;
      return message;
    }
  }

  /**
   * Ends the scanner on a failure: the adapter reader is released, `done` settles with the error and the
   * state is `failed`. Returns the error to throw.
   */
  async #fail(error: unknown): Promise<Error> {
    const failure = error instanceof Error ? error : new Error(String(error));
    this.#stop.abort();
    this.#finish('failed', failure);
    await this.#leaveMode().catch(() => {});
    this.#source.onClose();
    return failure;
  }

  #tryTailing(afterTimeTick: bigint): void {
    const reader = this.#source.tailBuffer!.readFromExclusiveTimeTick(afterTimeTick);
    if (!reader) return;
    const previous = this.#mode;
    this.#mode = { kind: 'tailing', reader };
    if (previous.kind === 'catchup') void previous.raw.close();
  }

  /** The tail buffer evicted what this reader needs: resume from the store where the tail left off. */
  async #fallBackToStore(): Promise<void> {
    const last = this.#lastPulled;
    await this.#leaveMode();
    const policy = last ? DeliverPolicy.startFrom(last.lastConfirmedId) : DeliverPolicy.all();
    this.#mode = this.#catchup(await this.#source.openRaw(policy), last?.timeTick ?? -1n);
  }

  async #leaveMode(): Promise<void> {
    const mode = this.#mode;
    if (mode.kind === 'tailing') mode.reader.close();
    else await mode.raw.close();
  }

  #catchup(raw: RawScanner, dropUpTo: bigint): Mode {
    return { kind: 'catchup', raw, iterator: raw[Symbol.asyncIterator](), dropUpTo };
  }

  #hand(message: ImmutableMessage): IteratorResult<ImmutableMessage, undefined> {
    if (message.hasTimeTick) this.#lastTimeTick = message.timeTick;
    if (this.#progress.observed) {
      this.#progress.next({
        messageId: message.id,
        timeTick: message.hasTimeTick ? message.timeTick : undefined,
      });
    }
    return { value: message, done: false };
  }

  #wanted(message: ImmutableMessage): boolean {
    const vchannel = message.vchannel;
    // A message without a vchannel is for every vchannel of the pchannel (TimeTicks, broadcasts).
    if (this.#vchannel !== undefined && vchannel !== undefined && vchannel !== this.#vchannel) return false;
    return this.#accept === undefined || this.#accept(message);
  }

  #finish(state: ScannerState, error: Error | undefined): void {
    if (this.#state.value !== 'running') return;
    this.#untrack?.();
    this.#state.next(state);
    this.#state.complete();
    this.#progress.complete();
    this.#settle(error);
  }
}
