import { WalError } from '@walstream/core';
import { BehaviorSubject, type Observable } from 'rxjs';
import { compareNodeIds } from '../policy/order.js';
import type { NodeManagerClient, NodeSession } from './node-client.js';

/** Where the balancer learns which nodes are alive. */
export interface SessionDirectory {
  /** The live sessions now, then after every change (join, stopping, lost). */
  readonly sessions$: Observable<readonly NodeSession[]>;
}

/** A node's hold on its in-process session. */
export interface InProcessSessionHandle {
  readonly nodeId: string;
  /** Announces a graceful stop: the session stays while the node's channels move away. */
  markStopping(): void;
  /** Ends the session (a stopped node, or a lost one: the coordinator cannot tell them apart). */
  leave(): void;
}

/**
 * Node sessions for the embedded mode: nodes in this process join with their client and get an id from a
 * counter that never goes back, so a node that joins again is a new node.
 */
export class InProcessSessions implements SessionDirectory {
  readonly #sessions = new Map<string, NodeSession>();
  readonly #subject = new BehaviorSubject<readonly NodeSession[]>([]);
  readonly sessions$: Observable<readonly NodeSession[]> = this.#subject.asObservable();
  #nextId: bigint;

  /** `firstId`: where ids start (default 1); above every id a previous run used, so none is reused. */
  constructor(options: { firstId?: bigint } = {}) {
    const first = options.firstId ?? 1n;
    if (typeof first !== 'bigint' || first < 1n) {
      throw new WalError('INVALID_ARGUMENT', 'InProcessSessions: option firstId must be a bigint ≥ 1', {
        retriable: false,
      });
    }
    this.#nextId = first;
  }

  /**
   * Registers a node. `nodeId`: the node's own id (a StreamingNode has one, never reused); it must be new
   * here, and the counter moves above it. Default: the next id of the counter.
   */
  join(
    client: NodeManagerClient,
    options: { address?: string; nodeId?: string } = {},
  ): InProcessSessionHandle {
    const nodeId = options.nodeId ?? String(this.#nextId++);
    if (this.#sessions.has(nodeId) || nodeId.length === 0) {
      throw new WalError('INVALID_ARGUMENT', `node id ${JSON.stringify(nodeId)} is empty or in use`, {
        retriable: false,
      });
    }
    if (/^\d+$/.test(nodeId) && BigInt(nodeId) >= this.#nextId) this.#nextId = BigInt(nodeId) + 1n;
    this.#sessions.set(nodeId, {
      nodeId,
      stopping: false,
      client,
      ...(options.address === undefined ? {} : { address: options.address }),
    });
    this.#publish();
    return {
      nodeId,
      markStopping: () => {
        const session = this.#sessions.get(nodeId);
        if (!session)
          throw new WalError('ON_SHUTDOWN', `node ${nodeId} has no session`, { retriable: false });
        this.#sessions.set(nodeId, { ...session, stopping: true });
        this.#publish();
      },
      leave: () => {
        if (this.#sessions.delete(nodeId)) this.#publish();
      },
    };
  }

  get sessions(): readonly NodeSession[] {
    return this.#subject.value;
  }

  #publish(): void {
    this.#subject.next([...this.#sessions.values()].sort((a, b) => compareNodeIds(a.nodeId, b.nodeId)));
  }
}
