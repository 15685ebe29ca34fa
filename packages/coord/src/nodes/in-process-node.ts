import {
  type AppendResult,
  type MutableMessage,
  type PChannelInfo,
  type Wal,
  WalError,
  type WalOpener,
} from '@walstream/core';
import { compareNames } from '../policy/order.js';
import type { InProcessSessionHandle, InProcessSessions } from './in-process-sessions.js';
import type { NodeManagerClient, NodeStatusReport, NodeWalStatus, WalLifetime } from './node-client.js';

interface Entry {
  readonly pchannel: PChannelInfo;
  state: WalLifetime;
  wal?: Wal;
  error?: WalError;
}

/**
 * A streaming node in the coordinator's process (the embedded mode): it opens and closes WALs through a
 * {@link WalOpener} when the balancer assigns and removes pchannels, one operation at a time per
 * pchannel, and reports their state. Applications in the process append through {@link wal}.
 */
export class InProcessNode implements NodeManagerClient {
  readonly #opener: WalOpener;
  readonly #entries = new Map<string, Entry>();
  readonly #queues = new Map<string, Promise<unknown>>();
  #session: InProcessSessionHandle | undefined;
  #closed = false;

  constructor(opener: WalOpener) {
    this.#opener = opener;
  }

  /** Registers the node; the session's id is the node's id from then on. */
  join(sessions: InProcessSessions): this {
    if (this.#session)
      throw new WalError('INVALID_ARGUMENT', `node ${this.nodeId} already joined`, { retriable: false });
    this.#session = sessions.join(this);
    return this;
  }

  get nodeId(): string {
    return this.#session?.nodeId ?? '(not joined)';
  }

  /** The ready WAL of `name`; CHANNEL_NOT_EXIST when this node does not serve it now. */
  wal(name: string): Wal {
    const entry = this.#entries.get(name);
    if (entry?.state !== 'ready' || !entry.wal) {
      throw new WalError('CHANNEL_NOT_EXIST', `node ${this.nodeId} does not serve pchannel ${name}`, {
        details: { pchannel: name },
      });
    }
    return entry.wal;
  }

  /** Appends on the ready WAL of `pchannel` when this node holds it at exactly `pchannel.term`. */
  append(pchannel: PChannelInfo, message: MutableMessage): Promise<AppendResult> {
    const wal = this.wal(pchannel.name);
    const held = this.#entries.get(pchannel.name)?.pchannel.term;
    if (held !== pchannel.term) {
      return Promise.reject(
        new WalError(
          'UNMATCHED_CHANNEL_TERM',
          `node ${this.nodeId} holds ${pchannel.name} at term ${held}, not ${pchannel.term}`,
          { details: { pchannel: pchannel.name } },
        ),
      );
    }
    return wal.append(message);
  }

  assign(pchannel: PChannelInfo): Promise<void> {
    this.#checkOpen();
    return this.#serial(pchannel.name, async () => {
      const entry = this.#entries.get(pchannel.name);
      if (entry && entry.pchannel.term > pchannel.term) {
        throw new WalError(
          'UNMATCHED_CHANNEL_TERM',
          `node ${this.nodeId} holds ${pchannel.name} at term ${entry.pchannel.term}, above ${pchannel.term}`,
          { retriable: false },
        );
      }
      if (entry && entry.pchannel.term === pchannel.term) {
        // As a StreamingNode answers: a term is opened once; after a failed open the coordinator moves on
        // to a new term.
        throw new WalError(
          'IGNORED_OPERATION',
          `node ${this.nodeId} was assigned ${pchannel.name} at term ${pchannel.term} already`,
          { retriable: false },
        );
      }
      if (entry) await this.#close(entry);
      const fresh: Entry = { pchannel, state: 'recovering' };
      this.#entries.set(pchannel.name, fresh);
      // Opening goes on after assign() returns, as over the wire; collectStatus shows the outcome.
      void this.#serial(pchannel.name, async () => {
        if (this.#entries.get(pchannel.name) !== fresh) return;
        try {
          fresh.wal = await this.#opener.open({ channel: pchannel });
          fresh.state = 'ready';
        } catch (error) {
          fresh.state = 'failed';
          fresh.error = WalError.is(error) ? error : new WalError('UNKNOWN', String(error), { cause: error });
        }
      });
    });
  }

  remove(pchannel: PChannelInfo): Promise<void> {
    this.#checkOpen();
    return this.#serial(pchannel.name, async () => {
      const entry = this.#entries.get(pchannel.name);
      if (!entry || entry.pchannel.term !== pchannel.term) {
        throw new WalError(
          'IGNORED_OPERATION',
          `node ${this.nodeId} holds no WAL of ${pchannel.name} at term ${pchannel.term}`,
          { retriable: false },
        );
      }
      await this.#close(entry);
      this.#entries.delete(pchannel.name);
    });
  }

  async collectStatus(): Promise<NodeStatusReport> {
    this.#checkOpen();
    const wals: NodeWalStatus[] = [...this.#entries.values()]
      .sort((a, b) => compareNames(a.pchannel.name, b.pchannel.name))
      .map((e) => ({ pchannel: e.pchannel, state: e.state, ...(e.error ? { error: e.error } : {}) }));
    return { nodeId: this.nodeId, wals };
  }

  /** Announces a graceful stop; the coordinator moves the node's channels away. */
  markStopping(): void {
    this.#session?.markStopping();
  }

  /**
   * Leaves the session and keeps every WAL open: what the coordinator sees of a node that crashed or was
   * cut off. Its WALs are fenced when their pchannels open elsewhere at a higher term.
   */
  leaveSession(): void {
    this.#session?.leave();
  }

  /** Leaves the session and closes every WAL; the opener stays the caller's. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#session?.leave();
    await Promise.all([...this.#entries.values()].map((entry) => this.#close(entry)));
    this.#entries.clear();
  }

  async #close(entry: Entry): Promise<void> {
    entry.state = 'closing';
    try {
      await entry.wal?.close();
    } finally {
      entry.state = 'closed';
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new WalError('ON_SHUTDOWN', `node ${this.nodeId} is closed`);
  }

  #serial<T>(name: string, work: () => Promise<T>): Promise<T> {
    const run = (this.#queues.get(name) ?? Promise.resolve()).then(work);
    this.#queues.set(
      name,
      run.catch(() => {}),
    );
    return run;
  }
}
