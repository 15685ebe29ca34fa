import type { PChannelInfo } from '@walstream/core';
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
 */
export class RpcNodeManagerClient implements NodeManagerClient {
  readonly #rpc: Pick<RpcChannel, 'nodeManager'>;

  constructor(rpc: Pick<RpcChannel, 'nodeManager'>) {
    this.#rpc = rpc;
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
