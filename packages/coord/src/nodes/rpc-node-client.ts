import { type AppendResult, type MutableMessage, type PChannelInfo, WalError } from '@walstream/core';
import {
  AssignRequestSchema,
  CollectStatusRequestSchema,
  create,
  fromWireError,
  fromWirePChannel,
  RemoveRequestSchema,
  type RpcChannel,
  toWirePChannel,
  WalLifetimeState,
} from '@walstream/rpc';
import type { NodeManagerClient, NodeStatusReport, WalLifetime } from './node-client.js';
import { ProduceStream } from './produce-stream.js';

const LIFETIME: Partial<Record<WalLifetimeState, WalLifetime>> = {
  [WalLifetimeState.RECOVERING]: 'recovering',
  [WalLifetimeState.READY]: 'ready',
  [WalLifetimeState.CLOSING]: 'closing',
  [WalLifetimeState.CLOSED]: 'closed',
  [WalLifetimeState.FAILED]: 'failed',
};

/**
 * A StreamingNode's `NodeManagerService` over gRPC, as the balancer calls it. Errors arrive as the
 * node's WalErrors (the rpc transport carries them intact); a node that does not answer is UNAVAILABLE.
 * Given the node's handler too (a whole `RpcChannel`), it also appends — the broadcaster's copies —
 * through one producer stream per pchannel, opened at the term it is asked for.
 */
export class RpcNodeManagerClient implements NodeManagerClient {
  readonly #rpc: Pick<RpcChannel, 'nodeManager'> & Partial<Pick<RpcChannel, 'nodeHandler'>>;
  readonly #streams = new Map<string, ProduceStream>();
  #closed = false;

  constructor(rpc: Pick<RpcChannel, 'nodeManager'> & Partial<Pick<RpcChannel, 'nodeHandler'>>) {
    this.#rpc = rpc;
  }

  /**
   * Appends `message` on the node's WAL of `pchannel` at exactly `pchannel.term`. The node's refusal
   * comes back as is (CHANNEL_FENCED, UNMATCHED_CHANNEL_TERM, ...); the stream is then dropped and the
   * next append opens a new one.
   */
  async append(pchannel: PChannelInfo, message: MutableMessage, signal?: AbortSignal): Promise<AppendResult> {
    const handler = this.#rpc.nodeHandler;
    if (!handler) {
      throw new WalError('INVALID_ARGUMENT', 'this node client was made without the node handler service', {
        retriable: false,
      });
    }
    if (this.#closed) throw new WalError('CLOSED', 'the node client is closed', { retriable: false });
    let stream = this.#streams.get(pchannel.name);
    if (stream && (stream.ended || stream.pchannel.term !== pchannel.term)) {
      stream.cancel();
      stream = undefined;
    }
    if (!stream) {
      stream = new ProduceStream(handler, pchannel);
      this.#streams.set(pchannel.name, stream);
    }
    const used = stream;
    try {
      return await used.append(message, signal);
    } catch (error) {
      if (used.ended && this.#streams.get(pchannel.name) === used) this.#streams.delete(pchannel.name);
      throw error;
    }
  }

  /** Ends the producer streams this client opened (the channel is the caller's to close). */
  close(): void {
    this.#closed = true;
    for (const stream of this.#streams.values()) stream.cancel();
    this.#streams.clear();
  }

  async assign(pchannel: PChannelInfo, signal?: AbortSignal): Promise<void> {
    await this.#rpc.nodeManager.assign(
      create(AssignRequestSchema, { pchannel: toWirePChannel(pchannel) }),
      signal ? { signal } : {},
    );
  }

  async remove(pchannel: PChannelInfo, signal?: AbortSignal): Promise<void> {
    await this.#rpc.nodeManager.remove(
      create(RemoveRequestSchema, { pchannel: toWirePChannel(pchannel) }),
      signal ? { signal } : {},
    );
  }

  async collectStatus(signal?: AbortSignal): Promise<NodeStatusReport> {
    const response = await this.#rpc.nodeManager.collectStatus(
      create(CollectStatusRequestSchema, {}),
      signal ? { signal } : {},
    );
    return {
      nodeId: String(response.node?.nodeId ?? ''),
      // A state this version does not know is left out: the balancer then waits, as for a missing WAL.
      wals: response.wals.flatMap((wal) => {
        const state = LIFETIME[wal.state];
        if (state === undefined) return [];
        return [
          {
            pchannel: fromWirePChannel(wal.pchannel),
            state,
            ...(wal.error ? { error: fromWireError(wal.error) } : {}),
          },
        ];
      }),
    };
  }
}
