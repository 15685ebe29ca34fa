import { BehaviorSubject, Observable, Subject } from 'rxjs';
import type { PChannelInfo } from '../channel/channel.js';
import type { ImmutableMessage } from '../message/message.js';
import type { RawScanner } from '../walimpls/spi.js';
import { compileFilters } from './filters.js';
import type {
  DeliveriesOptions,
  Delivery,
  Scanner,
  ScannerProgress,
  ScannerState,
  ScanOptions,
} from './wal.js';

const DEFAULT_WINDOW = 64;

/**
 * The runtime's reader: pulls from the adapter's raw scanner one message at a time, keeps what the
 * reader asked for (vchannel, filters), and offers RxJS views on top. It has no buffer of its own: the
 * raw scanner's bounded read-ahead is the only one.
 */
export class WalScanner implements Scanner {
  readonly name: string;
  readonly channel: PChannelInfo;
  readonly done: Promise<Error | undefined>;
  readonly #raw: RawScanner;
  readonly #iterator: AsyncIterator<ImmutableMessage>;
  readonly #vchannel: string | undefined;
  readonly #accept: ((message: ImmutableMessage) => boolean) | undefined;
  readonly #state = new BehaviorSubject<ScannerState>('running');
  readonly #progress = new Subject<ScannerProgress>();
  readonly #onClose: () => void;
  #closing: Promise<void> | undefined;

  constructor(raw: RawScanner, channel: PChannelInfo, options: ScanOptions, onClose: () => void) {
    this.#raw = raw;
    this.#iterator = raw[Symbol.asyncIterator]();
    this.name = raw.name;
    this.channel = channel;
    this.#vchannel = options.vchannel;
    this.#accept = compileFilters(options.filters ?? []);
    this.#onClose = onClose;
    this.done = raw.done.then((error) => {
      this.#finish(error ? 'failed' : 'closed');
      return error;
    });
    options.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  get state$(): Observable<ScannerState> {
    return this.#state.asObservable();
  }

  get progress$(): Observable<ScannerProgress> {
    return this.#progress.asObservable();
  }

  async next(): Promise<IteratorResult<ImmutableMessage, undefined>> {
    for (;;) {
      const result = await this.#iterator.next();
      if (result.done) return { value: undefined, done: true };
      const message = result.value;
      if (!this.#wanted(message)) continue;
      if (this.#progress.observed) {
        this.#progress.next({
          messageId: message.id,
          timeTick: message.hasTimeTick ? message.timeTick : undefined,
        });
      }
      return { value: message, done: false };
    }
  }

  deliveries$(options: DeliveriesOptions = {}): Observable<Delivery> {
    const window = options.window ?? DEFAULT_WINDOW;
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
    this.#closing ??= this.#raw.close().then(() => {
      this.#finish('closed');
      this.#onClose();
    });
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

  #wanted(message: ImmutableMessage): boolean {
    const vchannel = message.vchannel;
    // A message without a vchannel is for every vchannel of the pchannel (TimeTicks, broadcasts).
    if (this.#vchannel !== undefined && vchannel !== undefined && vchannel !== this.#vchannel) return false;
    return this.#accept === undefined || this.#accept(message);
  }

  #finish(state: ScannerState): void {
    if (this.#state.value !== 'running') return;
    this.#state.next(state);
    this.#state.complete();
    this.#progress.complete();
  }
}
