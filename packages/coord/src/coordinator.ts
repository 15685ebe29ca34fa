import {
  type AppendResult,
  type BalancePolicy,
  type Catalog,
  hasCode,
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
import type { NodeMarkStore } from './balancer/marks.js';
import { type BroadcastAppender, Broadcaster, type BroadcasterOptions } from './broadcast/broadcaster.js';
import { ChannelManager } from './channel/channel-manager.js';
import { InProcessSessions, type SessionDirectory } from './nodes/in-process-sessions.js';
import type { NodeSession } from './nodes/node-client.js';
import { PolicyRegistry } from './policy/registry.js';
import { VCHANNEL_FAIR } from './policy/vchannel-fair.js';
import { Tso } from './tso/tso.js';

type BalancerTuning = Omit<
  BalancerOptions,
  'channels' | 'sessions' | 'policy' | 'observability' | 'initialMarks' | 'saveMarks'
>;
type BroadcasterTuning = Omit<BroadcasterOptions, 'catalog' | 'appender' | 'ids' | 'observability'>;

export interface CoordinatorOptions<S extends SessionDirectory = InProcessSessions> {
  /** Where every decision is saved first: pchannel metas, broadcast tasks, the TSO mark. */
  readonly catalog: Catalog;
  /** The pchannels to assign. Pchannels saved in the catalog earlier are kept too. */
  readonly pchannels: readonly string[];
  /** A registered policy name, or a policy. Default `vchannelFair`. */
  readonly policy?: string | BalancePolicy;
  /** Where `policy` names are looked up. Default: the built-in policies. */
  readonly policies?: PolicyRegistry;
  /**
   * Where nodes join: `InProcessSessions`, an `EtcdSessionDirectory`, or any `SessionDirectory`. Default: a
   * new in-process directory (the embedded mode) whose ids start above every node id the catalog
   * mentions, so a node of an earlier run is never mistaken for a new one.
   */
  readonly sessions?: S;
  /**
   * Where broadcasts append. Default: the owner's node client (`NodeManagerClient.append`) at the
   * pchannel's current term — the WAL of an `InProcessNode`, the produce stream of an
   * `RpcNodeManagerClient`.
   */
  readonly appender?: BroadcastAppender;
  /** Where freeze and drain marks are kept across coordinators (`etcdNodeMarks`). Default: in memory. */
  readonly marks?: NodeMarkStore;
  readonly balancer?: BalancerTuning;
  readonly broadcaster?: BroadcasterTuning;
  /** TSO window in milliseconds (see {@link Tso}). */
  readonly tsoWindowMs?: number;
  readonly observability?: Observability;
}

/** A running coordinator: its parts, and the streams an operator watches. */
export interface Coordinator<S extends SessionDirectory = InProcessSessions> extends AsyncDisposable {
  readonly tso: Tso;
  readonly channels: ChannelManager;
  readonly balancer: Balancer;
  readonly broadcaster: Broadcaster;
  readonly sessions: S;
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
export async function startCoordinator<S extends SessionDirectory = InProcessSessions>(
  options: CoordinatorOptions<S>,
): Promise<Coordinator<S>> {
  checkKnownKeys('startCoordinator', options, [
    'catalog',
    'pchannels',
    'policy',
    'policies',
    'sessions',
    'appender',
    'marks',
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
  const sessions =
    options.sessions ??
    (new InProcessSessions({ firstId: await nextNodeId(catalog) }) as SessionDirectory as S);
  // Loaded before anything starts: a coordinator that cannot read the marks must not act without them.
  const marks = options.marks;
  const initialMarks = marks ? await marks.load() : undefined;
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
  // The latest sessions, for the default appender to find a pchannel's owner.
  let live: readonly NodeSession[] = [];
  const following = sessions.sessions$.subscribe((s) => {
    live = s;
  });
  let broadcaster: Broadcaster;
  try {
    broadcaster = await Broadcaster.recover({
      ...options.broadcaster,
      catalog,
      appender: options.appender ?? ownerAppender(() => live, channels),
      ids: tso,
      ...(observability ? { observability } : {}),
    });
  } catch (error) {
    following.unsubscribe();
    channels.close();
    throw error;
  }
  const balancer = new Balancer({
    ...options.balancer,
    channels,
    sessions,
    policy,
    ...(marks && initialMarks ? { initialMarks, saveMarks: (m) => marks.save(m) } : {}),
    ...(observability ? { observability } : {}),
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await balancer.close();
      await broadcaster.close();
      following.unsubscribe();
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

/**
 * Appends on the node that owns the vchannel's pchannel now, at its current term: the owner's client
 * must take appends (`NodeManagerClient.append`). While the pchannel has no ready owner — and when the
 * owner refuses because it is fenced, closing or at another term — the append fails retriable, so the
 * broadcaster tries again once the pchannel has moved.
 */
function ownerAppender(live: () => readonly NodeSession[], channels: ChannelManager): BroadcastAppender {
  return {
    async append(message: MutableMessage, signal?: AbortSignal): Promise<AppendResult> {
      const vchannel = message.vchannel;
      if (vchannel === undefined)
        throw new WalError('INVALID_ARGUMENT', 'a broadcast copy needs a vchannel', { retriable: false });
      const meta = channels.get(pchannelOfVChannel(vchannel));
      const client = live().find((s) => s.nodeId === meta.nodeId)?.client;
      if (meta.state !== 'assigned' || client === undefined) {
        throw new WalError('CHANNEL_NOT_EXIST', `pchannel ${meta.channel.name} has no ready owner now`, {
          retriable: true,
          details: { pchannel: meta.channel.name },
        });
      }
      if (client.append === undefined) {
        throw new WalError(
          'CHANNEL_NOT_EXIST',
          `the owner of pchannel ${meta.channel.name} (node ${meta.nodeId}) takes no appends from the coordinator`,
          { retriable: true, details: { pchannel: meta.channel.name } },
        );
      }
      try {
        return await client.append(meta.channel, message, signal);
      } catch (error) {
        // The owner's end, not the copy's: once the pchannel has moved the copy can land.
        if (hasCode(error, ...OWNER_GONE) && !(error as WalError).retriable) {
          throw new WalError((error as WalError).code, (error as WalError).message, {
            cause: error,
            retriable: true,
            details: { pchannel: meta.channel.name },
          });
        }
        throw error;
      }
    },
  };
}

const OWNER_GONE = [
  'CHANNEL_FENCED',
  'CLOSED',
  'ON_SHUTDOWN',
  'UNMATCHED_CHANNEL_TERM',
  'CHANNEL_NOT_EXIST',
] as const;

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
