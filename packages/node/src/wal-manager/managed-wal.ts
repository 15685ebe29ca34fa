import type {
  AppendNotification,
  AppendResult,
  MessageID,
  MutableMessage,
  PChannelInfo,
  Scanner,
  ScanOptions,
  Wal,
  WalAppendOptions,
  WalState,
} from '@walstream/core';
import { type WalCheckpoints, walCheckpoints } from '@walstream/interceptors';
import type { Observable } from 'rxjs';

/**
 * The WAL as the manager hands it out: everything but `close()`, which does nothing (only the manager
 * closes its WALs, so a service that is done with a WAL cannot take it away from the others), and a count
 * of the appends in flight for the node's status.
 */
export class ManagedWal implements Wal {
  readonly #wal: Wal;
  #inFlight = 0;

  constructor(wal: Wal) {
    this.#wal = wal;
  }

  get appendsInFlight(): number {
    return this.#inFlight;
  }

  /** The checkpointing of the WAL underneath, when it was built with `walSemantics()`. */
  get checkpoints(): WalCheckpoints | undefined {
    return walCheckpoints(this.#wal);
  }

  get walName(): string {
    return this.#wal.walName;
  }

  get channel(): PChannelInfo {
    return this.#wal.channel;
  }

  get state(): WalState {
    return this.#wal.state;
  }

  get state$(): Observable<WalState> {
    return this.#wal.state$;
  }

  get appended$(): Observable<AppendNotification> {
    return this.#wal.appended$;
  }

  async append(message: MutableMessage, options?: WalAppendOptions): Promise<AppendResult> {
    this.#inFlight++;
    try {
      return await this.#wal.append(message, options);
    } finally {
      this.#inFlight--;
    }
  }

  read(options?: ScanOptions): Promise<Scanner> {
    return this.#wal.read(options);
  }

  truncate(id: MessageID): Promise<void> {
    return this.#wal.truncate(id);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
