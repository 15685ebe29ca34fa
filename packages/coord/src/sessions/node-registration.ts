import { WalError } from '@walstream/core';
import { checkKnownKeys, functionOption, integerOption } from '@walstream/core/internal';
import { noObservability, type Observability } from '@walstream/core/spi';
import type { Etcd3 } from 'etcd3';
import { EtcdNodeSession } from './etcd-sessions.js';

/** What `registerNode` needs of a started node: where it serves, and how to close it. */
export interface RegisteredServer {
  readonly address: string;
  close(): Promise<void>;
}

export interface RegisterNodeOptions<N extends RegisteredServer> {
  /** The node's etcd client (`createEtcdClient`). Not closed by the registration. */
  readonly client: Etcd3;
  /** Prefix of the session keys; the coordinator's. Default `walstream/`. */
  readonly prefix?: string;
  /** The session's TTL in seconds (default 10; etcd raises anything below 2 to 2). */
  readonly ttlSeconds?: number;
  /** The address published in the session. Default: the node's `address` (give this when it listens on 0.0.0.0). */
  readonly advertise?: string;
  /** Starts the node with the id it is given (never handed out before); resolves once it serves. */
  readonly start: (nodeId: bigint) => Promise<N>;
  /**
   * Whether the node still holds a WAL. A graceful stop waits, after marking the session stopping, until
   * this is false — the coordinator has moved every pchannel away — or `drainTimeoutMs` has passed.
   * Without it the stop closes the node right after the mark.
   */
  readonly holdsWals?: (node: N) => boolean;
  /** Bound of that wait. Default 30 000. */
  readonly drainTimeoutMs?: number;
  readonly observability?: Observability;
}

/** A node registered in etcd: its session, its server, and the graceful stop of both. */
export interface NodeRegistration<N extends RegisteredServer> extends AsyncDisposable {
  readonly nodeId: bigint;
  readonly node: N;
  readonly session: EtcdNodeSession;
  /**
   * Settles once the node is closed: after `stop()`, or after the session was lost (no keepalive got
   * through within the TTL — the coordinator has given the node up, so it stops serving at once).
   */
  readonly closed: Promise<void>;
  /**
   * Graceful: marks the session stopping (the coordinator moves the node's pchannels away and sends it
   * none), waits for the node to hold no WAL (bounded), closes the node, then ends the session.
   */
  stop(): Promise<void>;
}

/**
 * Registers a node in etcd around its server: takes an id from the never-reused counter, starts the node
 * with it, and writes the session with the node's address. The node package knows nothing of etcd; this
 * is where the two meet (the `walstream node` command uses it).
 */
export async function registerNode<N extends RegisteredServer>(
  options: RegisterNodeOptions<N>,
): Promise<NodeRegistration<N>> {
  const where = 'registerNode';
  checkKnownKeys(where, options, [
    'client',
    'prefix',
    'ttlSeconds',
    'advertise',
    'start',
    'holdsWals',
    'drainTimeoutMs',
    'observability',
  ]);
  const start = functionOption<(nodeId: bigint) => Promise<N>>(where, 'start', options.start);
  if (!start) {
    throw new WalError('INVALID_ARGUMENT', `${where}: option start is required`, {
      retriable: false,
      details: { option: 'start' },
    });
  }
  const holdsWals = functionOption<(node: N) => boolean>(where, 'holdsWals', options.holdsWals);
  const drainTimeoutMs = integerOption(where, 'drainTimeoutMs', options.drainTimeoutMs, 30_000, { min: 0 });
  const prefix = options.prefix;
  const nodeId = await EtcdNodeSession.allocateNodeId({
    client: options.client,
    ...(prefix === undefined ? {} : { prefix }),
  });
  const obs = (options.observability ?? noObservability).child({
    component: 'registration',
    nodeId: String(nodeId),
  });
  const node = await start(nodeId);
  let session: EtcdNodeSession;
  try {
    session = await EtcdNodeSession.register({
      client: options.client,
      address: options.advertise ?? node.address,
      nodeId,
      ...(prefix === undefined ? {} : { prefix }),
      ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
      ...(options.observability ? { observability: options.observability } : {}),
    });
  } catch (error) {
    await node.close().catch(() => {});
    throw error;
  }
  let closing: Promise<void> | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  const closeNode = (): Promise<void> => {
    closing ??= node.close().finally(markClosed);
    return closing;
  };
  let stopping = false;
  session.signal.addEventListener(
    'abort',
    () => {
      if (stopping) return;
      obs.logger.warn(
        { reason: String(session.signal.reason) },
        `node ${nodeId} lost its session: it stops serving`,
      );
      closeNode().catch((error: unknown) =>
        obs.reportError({ component: 'registration', error, retrying: false }),
      );
    },
    { once: true },
  );
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      let failure: unknown;
      if (!session.signal.aborted) {
        try {
          await session.markStopping();
          if (holdsWals) {
            const deadline = Date.now() + drainTimeoutMs;
            while (holdsWals(node) && Date.now() < deadline && !session.signal.aborted) {
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          }
        } catch (error) {
          failure = error;
        }
      }
      await closeNode();
      await session.stop().catch((error: unknown) => {
        failure ??= error;
      });
      if (failure !== undefined) throw failure;
    })();
    return stopped;
  };
  return { nodeId, node, session, closed, stop, [Symbol.asyncDispose]: stop };
}
