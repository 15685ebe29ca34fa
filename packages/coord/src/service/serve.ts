import { WalError } from '@walstream/core';
import { checkKnownKeys } from '@walstream/core/internal';
import {
  AckResponseSchema,
  type AdminImpl,
  AllocateResponseSchema,
  type AssignmentDiscoverResponse,
  AssignmentDiscoverResponseSchema,
  type AssignmentImpl,
  type BroadcastImpl,
  BroadcastResponseSchema,
  create,
  DrainResponseSchema,
  fromWireMessage,
  fromWirePChannel,
  ReportErrorResponseSchema,
  type RpcServer,
  type RpcServerOptions,
  startRpcServer,
  type TsoImpl,
  toWirePChannel,
  UndrainResponseSchema,
} from '@walstream/rpc';
import { firstValueFrom } from 'rxjs';
import type { Layout } from '../balancer/balancer.js';
import type { Coordinator } from '../coordinator.js';
import type { SessionDirectory } from '../nodes/in-process-sessions.js';
import { MAX_BATCH } from '../tso/tso.js';

export type ServeCoordinatorOptions = Omit<RpcServerOptions, 'services'>;

/** A full snapshot as the wire carries it: every node, with the pchannels it owns (possibly none). */
export function toWireAssignment(layout: Layout): AssignmentDiscoverResponse {
  return create(AssignmentDiscoverResponseSchema, {
    fullAssignment: {
      version: { global: layout.version.incarnation, local: layout.version.local },
      assignments: layout.nodes.map((node) => ({
        node: { nodeId: /^\d+$/.test(node.nodeId) ? BigInt(node.nodeId) : 0n, address: node.address ?? '' },
        channels: layout.assignments
          .filter((a) => a.nodeId === node.nodeId)
          .map((a) => toWirePChannel(a.pchannel)),
      })),
    },
  });
}

/**
 * Serves a coordinator over gRPC: `AssignmentService` (a stream of versioned full snapshots, the current
 * one first; ReportError), `BroadcastService` (Broadcast, Ack), `TsoService` (Allocate) and
 * `AdminService` (Drain, Undrain).
 */
export async function serveCoordinator(
  coordinator: Coordinator<SessionDirectory>,
  options: ServeCoordinatorOptions,
): Promise<RpcServer> {
  checkKnownKeys('serveCoordinator', options, [
    'listen',
    'tls',
    'token',
    'maxMessageBytes',
    'keepalive',
    'observability',
  ]);
  const assignment: AssignmentImpl = {
    async assignmentDiscover(_request, stream, call) {
      // Level-triggered: a slow reader skips intermediate versions and always gets the latest.
      let latest: Layout | undefined;
      let wake: (() => void) | undefined;
      const subscription = coordinator.layout$.subscribe({
        next: (layout) => {
          latest = layout;
          wake?.();
        },
        complete: () => wake?.(),
      });
      let ended = false;
      subscription.add(() => {
        ended = true;
      });
      const aborted = new Promise<void>((resolve) =>
        call.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      try {
        let sent: Layout | undefined;
        while (!call.signal.aborted) {
          if (latest !== undefined && latest !== sent) {
            sent = latest;
            await stream.send(toWireAssignment(sent));
            continue;
          }
          if (ended) return;
          await Promise.race([
            new Promise<void>((resolve) => {
              wake = resolve;
            }),
            aborted,
          ]);
          wake = undefined;
        }
      } finally {
        subscription.unsubscribe();
      }
    },
    async reportError(request) {
      const pchannel = fromWirePChannel(request.pchannel);
      await coordinator.balancer.reportError(pchannel.name, pchannel.term);
      return create(ReportErrorResponseSchema, {});
    },
  };
  const broadcast: BroadcastImpl = {
    async broadcast(request, call) {
      const result = await coordinator.broadcaster.broadcast(fromWireMessage(request.message), {
        signal: call.signal,
      });
      return create(BroadcastResponseSchema, {
        broadcastId: result.broadcastId,
        results: Object.fromEntries(
          [...result.appends].map(([vchannel, a]) => [
            vchannel,
            { id: { id: a.messageId, walName: a.walName }, timeTick: a.timeTick },
          ]),
        ),
      });
    },
    async ack(request) {
      await coordinator.broadcaster.ack(request.broadcastId, request.vchannel);
      return create(AckResponseSchema, {});
    },
  };
  const tso: TsoImpl = {
    async allocate(request) {
      if (request.count < 1 || request.count > MAX_BATCH) {
        throw new WalError(
          'INVALID_ARGUMENT',
          `allocate: count must be between 1 and ${MAX_BATCH}, got ${request.count}`,
          {
            retriable: false,
          },
        );
      }
      const batch = await coordinator.tso.allocateBatch(request.count);
      return create(AllocateResponseSchema, { first: batch.first, count: batch.count });
    },
  };
  // Operator actions (`walstream drain`): a node id must be one in session, so a typo is not a silent no-op.
  const knownNode = async (nodeId: bigint, action: string): Promise<string> => {
    const id = String(nodeId);
    const nodes = await firstValueFrom(coordinator.nodes$);
    if (!nodes.some((node) => node.nodeId === id)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `${action}: node ${id} is not in session (nodes: ${nodes.map((n) => n.nodeId).join(', ') || 'none'})`,
        { retriable: false },
      );
    }
    return id;
  };
  const admin: AdminImpl = {
    async drain(request, call) {
      const id = await knownNode(request.nodeId, 'drain');
      const held = coordinator.channels.snapshot.metas
        .filter((m) => m.nodeId === id)
        .map((m) => m.channel.name);
      await coordinator.balancer.drain(id, call.signal);
      return create(DrainResponseSchema, { pchannels: held });
    },
    async undrain(request) {
      await coordinator.balancer.undrain(await knownNode(request.nodeId, 'undrain'));
      return create(UndrainResponseSchema, {});
    },
  };
  return startRpcServer({ ...options, services: { assignment, broadcast, tso, admin } });
}
