import type { MessageID, PChannelInfo, WalError } from '@walstream/core';
import {
  type AssignRequest,
  type AssignResponse,
  AssignResponseSchema,
  type CollectStatusResponse,
  CollectStatusResponseSchema,
  create,
  fromWirePChannel,
  type RemoveRequest,
  type RemoveResponse,
  RemoveResponseSchema,
  toWireError,
  toWireMessageId,
  toWirePChannel,
  WalLifetimeState,
} from '@walstream/rpc';

/** The lifetime states of a node's WAL, as the WAL manager reports them. */
export type ManagedWalState = 'recovering' | 'ready' | 'closing' | 'closed' | 'failed';

/** One WAL's status as the WAL manager reports it (the shape of its `status()` entries). */
export interface ManagedWalStatus {
  readonly channel: PChannelInfo;
  readonly state: ManagedWalState;
  readonly error?: WalError;
  readonly recoveryTimeTick?: bigint;
  readonly lastSyncedTimeTick?: bigint;
  readonly checkpoint?: { readonly messageId: MessageID; readonly timeTick: bigint };
  readonly appendsInFlight: number;
}

/** What the manager service drives: the node's WAL manager. */
export interface ManagedWals {
  assign(channel: PChannelInfo): void;
  remove(channel: PChannelInfo): Promise<void>;
  status(): readonly ManagedWalStatus[];
}

const WIRE_STATE: Record<ManagedWalState, WalLifetimeState> = {
  recovering: WalLifetimeState.RECOVERING,
  ready: WalLifetimeState.READY,
  closing: WalLifetimeState.CLOSING,
  closed: WalLifetimeState.CLOSED,
  failed: WalLifetimeState.FAILED,
};

/**
 * The coordinator's side of a node: Assign returns as soon as the WAL manager took the request (opening
 * and recovery go on in the background and show in CollectStatus); Remove closes the WAL at that term.
 */
export function managerService(wals: ManagedWals, node: { readonly nodeId: bigint; address(): string }) {
  return {
    async assign(request: AssignRequest): Promise<AssignResponse> {
      wals.assign(fromWirePChannel(request.pchannel));
      return create(AssignResponseSchema, {});
    },
    async remove(request: RemoveRequest): Promise<RemoveResponse> {
      await wals.remove(fromWirePChannel(request.pchannel));
      return create(RemoveResponseSchema, {});
    },
    async collectStatus(): Promise<CollectStatusResponse> {
      return create(CollectStatusResponseSchema, {
        node: { nodeId: node.nodeId, address: node.address() },
        wals: wals.status().map((status) => ({
          pchannel: toWirePChannel(status.channel),
          state: WIRE_STATE[status.state],
          ...(status.error ? { error: toWireError(status.error) } : {}),
          recoveryTimeTick: status.recoveryTimeTick ?? 0n,
          lastSyncedTimeTick: status.lastSyncedTimeTick ?? 0n,
          ...(status.checkpoint
            ? {
                checkpoint: {
                  messageId: toWireMessageId(status.checkpoint.messageId),
                  timeTick: status.checkpoint.timeTick,
                },
              }
            : {}),
          appendsInFlight: status.appendsInFlight,
        })),
      });
    },
  };
}
