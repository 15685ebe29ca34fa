import {
  type AppendResult,
  type BalancePolicy,
  type Catalog,
  type MutableMessage,
  pchannelOfVChannel,
  WalError,
} from '@walstream/core';
import { checkKnownKeys } from '@walstream/core/internal';
import type { Observability } from '@walstream/core/spi';
import type { Observable } from 'rxjs';
import {
  Balancer,
  type BalancerOptions,
  type Layout,
  type MoveEvent,
  type NodeView,
} from './balancer/balancer.js';
import { type BroadcastAppender, Broadcaster, type BroadcasterOptions } from './broadcast/broadcaster.js';
import { ChannelManager } from './channel/channel-manager.js';
import { InProcessNode } from './nodes/in-process-node.js';
import { InProcessSessions } from './nodes/in-process-sessions.js';
import { PolicyRegistry } from './policy/registry.js';
import { VCHANNEL_FAIR } from './policy/vchannel-fair.js';
import { Tso } from './tso/tso.js';

type BalancerTuning = Omit<BalancerOptions, 'channels' | 'sessions' | 'policy' | 'observability'>;
type BroadcasterTuning = Omit<BroadcasterOptions, 'catalog' | 'appender' | 'ids' | 'observability'>;

export interface CoordinatorOptions {
  /** Where every decision is saved first: pchannel metas, broadcast tasks, the TSO mark. */
  readonly catalog: Catalog;
  /** The pchannels to assign. Pchannels saved in the catalog earlier are kept too. */
  readonly pchannels: readonly string[];
  /** A registered policy name, or a policy. Default `vchannelFair`. */
  readonly policy?: string | BalancePolicy;
  /** Where `policy` names are looked up. Default: the built-in policies. */
  readonly policies?: PolicyRegistry;
  /**
   * Where nodes join. Default: a new in-process directory (the embedded mode) whose ids start above every
   * node id the catalog mentions, so a node of an earlier run is never mistaken for a new one.
   */
  readonly sessions?: InProcessSessions;
  /** Where broadcasts append. Default: the WALs of the in-process nodes that own the pchannels. */
  readonly appender?: BroadcastAppender;
  readonly balancer?: BalancerTuning;
  readonly broadcaster?: BroadcasterTuning;
  /** TSO window in milliseconds (see {@link Tso}). */
  readonly tsoWindowMs?: number;
  readonly observability?: Observability;
}

/** A running coordinator: its parts, and the streams an operator watches. */
export interface Coordinator extends AsyncDisposable {
  readonly tso: Tso;
  readonly channels: ChannelManager;
  readonly balancer: Balancer;
  readonly broadcaster: Broadcaster;
  readonly sessions: InProcessSessions;
  readonly policies: PolicyRegistry;
  readonly nodes$: Observable<readonly NodeView[]>;
  readonly layout$: Observable<Layout>;
  readonly moves$: Observable<MoveEvent>;
  close(): Promise<void>;
}

/**
 * Starts a coordinator in this process on `catalog`: the TSO, the channel manager rebuilt from the
 * catalog, the balancer, and the broadcaster with every unfinished broadcast resumed. Nodes join through
 * `coordinator.sessions` (`new InProcessNode(opener).join(coordinator.sessions)`).
 */
export async function startCoordinator(options: CoordinatorOptions): Promise<Coordinator> {
  checkKnownKeys('startCoordinator', options, [
    'catalog',
    'pchannels',
    'policy',
    'policies',
    'sessions',
    'appender',
    'balancer',
    'broadcaster',
    'tsoWindowMs',
    'observability',
  ]);
  const { catalog } = options;
  const observability = options.observability;
  const policies = options.policies ?? PolicyRegistry.withBuiltins();
  const policy =
    typeof options.policy === 'object' ? options.policy : policies.get(options.policy ?? VCHANNEL_FAIR);
  const sessions = options.sessions ?? new InProcessSessions({ firstId: await nextNodeId(catalog) });
  const tso = new Tso({
    catalog,
    ...(options.tsoWindowMs === undefined ? {} : { windowMs: options.tsoWindowMs }),
    ...(observability ? { observability } : {}),
  });
  const channels = await ChannelManager.recover({
    catalog,
    pchannels: options.pchannels,
    incarnation: await tso.allocate(),
  });
  const broadcaster = await Broadcaster.recover({
    ...options.broadcaster,
    catalog,
    appender: options.appender ?? inProcessAppender(sessions, channels),
    ids: tso,
    ...(observability ? { observability } : {}),
  });
  const balancer = new Balancer({
    ...options.balancer,
    channels,
    sessions,
    policy,
    ...(observability ? { observability } : {}),
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await balancer.close();
      await broadcaster.close();
      channels.close();
    })();
    return closing;
  };
  return {
    tso,
    channels,
    balancer,
    broadcaster,
    sessions,
    policies,
    nodes$: balancer.nodes$,
    layout$: balancer.layout$,
    moves$: balancer.moves$,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Appends on the in-process node that owns the vchannel's pchannel now; CHANNEL_NOT_EXIST (retried) meanwhile. */
function inProcessAppender(sessions: InProcessSessions, channels: ChannelManager): BroadcastAppender {
  return {
    async append(message: MutableMessage): Promise<AppendResult> {
      const vchannel = message.vchannel;
      if (vchannel === undefined)
        throw new WalError('INVALID_ARGUMENT', 'a broadcast copy needs a vchannel', { retriable: false });
      const meta = channels.get(pchannelOfVChannel(vchannel));
      const client = sessions.sessions.find((s) => s.nodeId === meta.nodeId)?.client;
      if (meta.state !== 'assigned' || !(client instanceof InProcessNode)) {
        throw new WalError(
          'CHANNEL_NOT_EXIST',
          `pchannel ${meta.channel.name} has no ready in-process owner now`,
          {
            retriable: true,
          },
        );
      }
      return client.wal(meta.channel.name).append(message);
    },
  };
}

/** One above the largest decimal node id in the catalog's metas and their histories. */
async function nextNodeId(catalog: Catalog): Promise<bigint> {
  let max = 0n;
  for (const meta of await catalog.listPChannels()) {
    for (const id of [meta.nodeId, ...meta.history.map((h) => h.nodeId)]) {
      if (id !== undefined && /^\d+$/.test(id) && BigInt(id) > max) max = BigInt(id);
    }
  }
  return max + 1n;
}
