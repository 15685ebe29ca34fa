import { WalError } from '@walstream/core';
import { checkKnownKeys } from '@walstream/core/internal';
import {
  AckResponseSchema,
  AllocateResponseSchema,
  type AssignmentDiscoverResponse,
  AssignmentDiscoverResponseSchema,
  type AssignmentImpl,
  type BroadcastImpl,
  BroadcastResponseSchema,
  create,
  fromWireMessage,
  fromWirePChannel,
  ReportErrorResponseSchema,
  type RpcServer,
  type RpcServerOptions,
  startRpcServer,
  type TsoImpl,
  toWirePChannel,
} from '@walstream/rpc';
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
 * one first; ReportError), `BroadcastService` (Broadcast, Ack) and `TsoService` (Allocate).
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
  return startRpcServer({ ...options, services: { assignment, broadcast, tso } });
}
