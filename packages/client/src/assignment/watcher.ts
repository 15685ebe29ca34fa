import { type PChannelInfo, WalError } from '@walstream/core';
import { abortable, type BackoffOptions, delay } from '@walstream/core/internal';
import { type Observability, toWalError } from '@walstream/core/spi';
import {
  AssignmentDiscoverRequestSchema,
  create,
  type FullAssignment,
  fromWirePChannel,
  ReportErrorRequestSchema,
  type RpcChannel,
  toWireError,
  toWirePChannel,
} from '@walstream/rpc';
import { BehaviorSubject, type Observable } from 'rxjs';

/** Versions compare by `global` (a coordinator's incarnation), then `local` (changes within it). */
export interface AssignmentVersion {
  readonly global: bigint;
  readonly local: bigint;
}

/** Where one pchannel is served: its owner and the term its WAL is open at. */
export interface ChannelOwner {
  readonly pchannel: PChannelInfo;
  readonly nodeId: bigint;
  readonly address: string;
}

/** One full snapshot of the coordinator's assignment: it replaces the previous one entirely. */
export interface Assignment {
  readonly version: AssignmentVersion;
  /** Each assigned pchannel, by name. */
  readonly channels: ReadonlyMap<string, ChannelOwner>;
}

export function compareVersions(a: AssignmentVersion, b: AssignmentVersion): number {
  if (a.global !== b.global) return a.global < b.global ? -1 : 1;
  return a.local === b.local ? 0 : a.local < b.local ? -1 : 1;
}

function fromWireAssignment(full: FullAssignment): Assignment {
  const channels = new Map<string, ChannelOwner>();
  for (const node of full.assignments) {
    if (!node.node) continue;
    for (const wire of node.channels) {
      const pchannel = fromWirePChannel(wire);
      channels.set(pchannel.name, { pchannel, nodeId: node.node.nodeId, address: node.node.address });
    }
  }
  return {
    version: { global: full.version?.global ?? 0n, local: full.version?.local ?? 0n },
    channels,
  };
}

export interface WatcherOptions {
  readonly coords: readonly RpcChannel[];
  readonly backoff: BackoffOptions;
  readonly observability: Observability;
}

/**
 * Follows the coordinators' AssignmentDiscover stream. A snapshot older than (or as old as) the one held
 * is ignored, so a reconnect to a lagging coordinator never moves the client back. A broken stream is
 * opened again on the next coordinator address, after a backoff that grows while attempts keep failing
 * and resets once a snapshot arrives.
 */
export class AssignmentWatcher {
  readonly #options: WatcherOptions;
  readonly #subject = new BehaviorSubject<Assignment | undefined>(undefined);
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;

  constructor(options: WatcherOptions) {
    this.#options = options;
    this.#loop = this.#run();
  }

  /** The snapshots as they arrive, newest only; replays the current one (when there is one) on subscribe. */
  get assignments$(): Observable<Assignment | undefined> {
    return this.#subject.asObservable();
  }

  get current(): Assignment | undefined {
    return this.#subject.value;
  }

  /**
   * The owner of `pchannel` at a term above `aboveTerm` (any term without it). Resolves at once when the
   * current snapshot has one; otherwise waits for a snapshot that does — or until `maxWaitMs` passes, and
   * then answers the current owner even at an older term (the failure that sent the caller here may have
   * been passing), or keeps waiting while there is none.
   */
  async owner(
    pchannel: string,
    signal: AbortSignal | undefined,
    aboveTerm?: bigint,
    maxWaitMs?: number,
  ): Promise<ChannelOwner> {
    const pick = (strict: boolean): ChannelOwner | undefined => {
      const owner = this.#subject.value?.channels.get(pchannel);
      if (!owner) return undefined;
      if (strict && aboveTerm !== undefined && owner.pchannel.term <= aboveTerm) return undefined;
      return owner;
    };
    const found = pick(true);
    if (found) return found;
    const deadline = maxWaitMs === undefined ? undefined : Date.now() + maxWaitMs;
    return abortable(
      new Promise<ChannelOwner>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const settle = (owner: ChannelOwner | undefined, error?: WalError): void => {
          if (timer) clearTimeout(timer);
          subscription.unsubscribe();
          this.#stop.signal.removeEventListener('abort', onStop);
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else if (owner) resolve(owner);
        };
        const onStop = (): void => settle(undefined, new WalError('CLOSED', 'the client is closed'));
        const onAbort = (): void =>
          settle(
            undefined,
            new WalError('ABORTED', 'the wait for an owner was aborted', {
              retriable: false,
              cause: signal?.reason,
            }),
          );
        const check = (): void => {
          const strict = deadline === undefined || Date.now() < deadline;
          const owner = pick(strict);
          if (owner) settle(owner);
        };
        const subscription = this.#subject.subscribe(() => check());
        if (deadline !== undefined) timer = setTimeout(check, Math.max(0, deadline - Date.now()));
        this.#stop.signal.addEventListener('abort', onStop, { once: true });
        signal?.addEventListener('abort', onAbort, { once: true });
        if (this.#stop.signal.aborted) onStop();
      }),
      signal,
      () =>
        new WalError('ABORTED', 'the wait for an owner was aborted', {
          retriable: false,
          cause: signal?.reason,
        }),
    );
  }

  /** Tells a coordinator that `pchannel`'s owner at that term failed; best effort (the balancer also polls). */
  async reportError(pchannel: PChannelInfo, error: unknown): Promise<void> {
    const request = create(ReportErrorRequestSchema, {
      pchannel: toWirePChannel(pchannel),
      error: toWireError(toWalError(error)),
    });
    for (const coord of this.#options.coords) {
      try {
        await coord.assignment.reportError(request, { deadlineMs: 2_000 });
        return;
      } catch (failure) {
        this.#options.observability.logger.debug?.(
          { err: failure, address: coord.address },
          'ReportError failed',
        );
      }
    }
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    this.#subject.complete();
  }

  async #run(): Promise<void> {
    const { coords, backoff, observability } = this.#options;
    const signal = this.#stop.signal;
    let wait = backoff.initialMs;
    for (let attempt = 0; !signal.aborted; attempt++) {
      const coord = coords[attempt % coords.length] as RpcChannel;
      const stream = coord.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema, {}), {
        signal,
      });
      try {
        for await (const response of stream) {
          if (!response.fullAssignment) continue;
          const next = fromWireAssignment(response.fullAssignment);
          const held = this.#subject.value;
          wait = backoff.initialMs;
          if (held && compareVersions(next.version, held.version) <= 0) continue;
          this.#subject.next(next);
        }
        if (signal.aborted) return;
        observability.logger.debug?.({ address: coord.address }, 'assignment stream ended; reconnecting');
      } catch (error) {
        if (signal.aborted) return;
        observability.reportError({ component: 'client.assignments', error, retrying: true });
      }
      try {
        await delay(wait, signal);
      } catch {
        return;
      }
      wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
    }
  }
}
