import {
  type ImmutableMessage,
  type MessageID,
  type MutableMessage,
  newMessage,
  type PChannelInfo,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import { type InterceptorBuildParams, sharedKey } from '@walstream/core/spi';
import { type ResolvedOptions, resolveOptions, type SemanticsOptions } from './options.js';
import { OwnMessages } from './own-messages.js';
import { RecoveryTxnBuffer } from './recovery/ordering.js';
import { type ReplayResult, replayToFence } from './recovery/replay.js';
import { loadCheckpoint, RecoveryStorage } from './recovery/storage.js';
import { decodeInsert } from './shard/headers.js';
import { ShardManager } from './shard/manager.js';
import { ShardMessageType, shardMessageTypes } from './shard/message-types.js';
import { AckManager } from './timetick/ack-manager.js';
import { TimeTickSyncOperator } from './timetick/sync-operator.js';
import { TxnManager } from './txn/manager.js';
import type { TxnSession } from './txn/session.js';
import { WriteAheadBuffer } from './wab/write-ahead-buffer.js';

const CONTEXT = sharedKey<Promise<SemanticsContext>>('walstream.interceptors.semantics');
const CONTEXT_OPTIONS = sharedKey<SemanticsOptions | undefined>('walstream.interceptors.semantics.options');

/**
 * The per-WAL state the semantics interceptors share, created by whichever of them is built first. In
 * order: the fencing TimeTick (straight to the adapter, after a fresh timestamp), recovery (checkpoint +
 * replay to the fence), the txn manager, the ack manager, the shard manager, the write-ahead buffer and
 * the TimeTick sync.
 */
export function semanticsContext(
  params: InterceptorBuildParams,
  options: SemanticsOptions | undefined,
): Promise<SemanticsContext> {
  const existing = params.shared.get(CONTEXT);
  if (existing) {
    const first = params.shared.get(CONTEXT_OPTIONS);
    if (options !== undefined && first !== undefined && options !== first) {
      throw new WalError(
        'INVALID_ARGUMENT',
        'the semantics interceptors of one stack got different options objects: pass the same one to each (walSemantics(options) does)',
      );
    }
    return existing;
  }
  params.shared.set(CONTEXT_OPTIONS, options);
  const created = SemanticsContext.create(params, options);
  params.shared.set(CONTEXT, created);
  return created;
}

export class SemanticsContext {
  readonly channel: PChannelInfo;
  readonly options: ResolvedOptions;
  /** The TimeTick this term wrote first. */
  readonly fence: ImmutableMessage;
  readonly own: OwnMessages;
  /** The txn session of a message in flight, for interceptors inside timetick (shard). */
  readonly appendTxn = new WeakMap<MutableMessage, TxnSession>();
  readonly txnManager: TxnManager;
  readonly ackManager: AckManager;
  readonly shard: ShardManager;
  readonly wab: WriteAheadBuffer;
  readonly sync: TimeTickSyncOperator;
  readonly recovery: RecoveryStorage;
  readonly replay: ReplayResult;
  /** Aborted when the WAL starts closing: waits inside the chain (redo) give up. */
  readonly stopping = new AbortController();
  readonly #appendDirect: (message: MutableMessage) => Promise<ImmutableMessage>;
  #gracefulClose: Promise<void> | undefined;
  #close: Promise<void> | undefined;

  private constructor(parts: {
    params: InterceptorBuildParams;
    options: ResolvedOptions;
    fence: ImmutableMessage;
    own: OwnMessages;
    txnManager: TxnManager;
    ackManager: AckManager;
    shard: ShardManager;
    wab: WriteAheadBuffer;
    sync: TimeTickSyncOperator;
    recovery: RecoveryStorage;
    replay: ReplayResult;
  }) {
    this.channel = parts.params.channel;
    this.options = parts.options;
    this.fence = parts.fence;
    this.own = parts.own;
    this.txnManager = parts.txnManager;
    this.ackManager = parts.ackManager;
    this.shard = parts.shard;
    this.wab = parts.wab;
    this.sync = parts.sync;
    this.recovery = parts.recovery;
    this.replay = parts.replay;
    this.#appendDirect = parts.params.appendDirect;
  }

  static async create(
    params: InterceptorBuildParams,
    raw: SemanticsOptions | undefined,
  ): Promise<SemanticsContext> {
    const options = resolveOptions(raw);
    const report = raw?.onError ?? (() => undefined);
    shardMessageTypes();
    const { channel, catalog } = params;

    // 1. Fence: a fresh timestamp is above everything an earlier term wrote; appended past the chain.
    // Its LC is the checkpoint's LC rather than its own id (as in the original): a txn begun in the
    // previous term may still commit in this one, and a reader resuming from the fence must meet its begin.
    const loaded = await loadCheckpoint(catalog, channel.name);
    params.allocator.sync();
    const fenceTimeTick = await params.allocator.allocate();
    const fenceMessage = newMessage(SystemMessageType.TimeTick)
      .allVChannels()
      .build()
      .withTimeTick(fenceTimeTick)
      .withWalTerm(channel.term);
    if (loaded.checkpoint) fenceMessage.withLastConfirmed(loaded.checkpoint.lastConfirmed);
    else fenceMessage.withLastConfirmedUseMessageId();
    const fence = await params.appendDirect(fenceMessage);
    if (loaded.checkpoint && loaded.checkpoint.lastConfirmed.walName !== fence.walName) {
      throw new WalError(
        'UNRECOVERABLE',
        `checkpoint of ${channel.name} was written by adapter ${loaded.checkpoint.lastConfirmed.walName}, this WAL is ${fence.walName}`,
      );
    }

    // 2. Recovery: the checkpointed state, then the log from the checkpoint up to the fence.
    const txnBuffer = new RecoveryTxnBuffer({ failOnExclusive: { pchannel: channel.name } });
    const replay = await replayToFence({
      readRaw: params.readRaw,
      name: `${channel.name}/${channel.term}/recovery`,
      from: loaded.checkpoint?.lastConfirmed,
      checkpointTimeTick: loaded.checkpoint?.timeTick ?? -1n,
      fence,
      state: loaded.state,
      txns: txnBuffer,
      readAhead: options.replayReadAhead,
    });

    // Without a checkpoint (a fresh log, or one whose catalog was lost) the fence is its own LC, so no
    // txn from before it may commit later: the open ones are dropped, as readers will drop them.
    if (!loaded.checkpoint) {
      replay.openTxns.length = 0;
      txnBuffer.clear();
    }

    // 3. Txns open at the fence go on in this term.
    const txnManager = new TxnManager({ defaultKeepaliveMs: options.defaultKeepaliveMs });
    const sessions = txnManager.recover(
      replay.openTxns.map((txn) => ({
        txnId: txn.txnId,
        vchannel: txn.vchannel,
        keepaliveMs: txn.keepaliveMs,
        beginTimeTick: txn.begin.timeTick,
        lastTimeTick: txn.lastTimeTick,
      })),
    );

    // 4. The LC starts at the fence, or earlier at the begin of a txn that may still commit.
    let initialLastConfirmed: MessageID = fence.id;
    for (const txn of replay.openTxns) {
      if (txn.begin.id.compare(initialLastConfirmed) < 0) initialLastConfirmed = txn.begin.id;
    }
    let sync: TimeTickSyncOperator | undefined;
    const ackManager = new AckManager({
      allocator: params.allocator,
      initialLastConfirmed,
      floorTimeTick: fence.timeTick,
      recoveredTxns: replay.openTxns.map((txn, index) => ({ beginId: txn.begin.id, txn: sessions[index]! })),
      onAck: () => sync?.notify(),
    });

    // 5. Shard: the recovered vchannels and segments; recovered txn inserts hold their segments open.
    const own = new OwnMessages();
    const shard = new ShardManager(loaded.state, {
      options,
      allocator: params.allocator,
      own,
      append: async (message) => (await params.wal()).append(message),
      onError: (error) => report(error, 'shard'),
    });
    replay.openTxns.forEach((txn, index) => {
      for (const body of txn.bodies) {
        if (body.messageType !== ShardMessageType.Insert) continue;
        const segmentId = decodeInsert(body).segmentId;
        const segment = segmentId === undefined ? undefined : shard.segment(segmentId);
        if (segment) shard.attachTxn(segment, sessions[index]!);
      }
    });

    // 6. The write-ahead buffer starts at the fence; the sync fills it and feeds recovery.
    const wab = new WriteAheadBuffer(fence, options.wab);
    const recovery = new RecoveryStorage({
      catalog,
      pchannel: channel.name,
      term: channel.term,
      state: loaded.state,
      txns: txnBuffer,
      checkpoint: { lastConfirmed: initialLastConfirmed, timeTick: fence.timeTick },
      persistIntervalMs: options.persistIntervalMs,
      maxDirtyMessages: options.maxDirtyMessages,
      onError: (error) => report(error, 'recovery'),
    });
    sync = new TimeTickSyncOperator({
      ackManager,
      wab,
      own,
      append: async (tick) => (await (await params.wal()).append(tick)).messageId,
      gapMs: options.syncGapMs,
      maxPendingAcks: options.maxPendingAcks,
      idleIntervalMs: options.idleTickIntervalMs,
      onSynced: (messages, tick) => recovery.observe(messages, tick),
      onError: (error) => report(error, 'timeTick'),
    });
    // The recovered state is durable before the first append of this term.
    await recovery.persist();

    const context = new SemanticsContext({
      params,
      options,
      fence,
      own,
      txnManager,
      ackManager,
      shard,
      wab,
      sync,
      recovery,
      replay,
    });
    void params.wal().then((wal) => {
      if (context.#close) return;
      sync.start();
      shard.start();
      recovery.start();
      wal.state$.subscribe((state) => {
        if (state === 'fenced') {
          // A newer term owns the pchannel: stop writing ticks and checkpoints.
          sync.stop();
          recovery.stop();
        }
      });
    });
    return context;
  }

  /** Appends are being drained: stop background work and write the final tick past the chain. */
  gracefulClose(): Promise<void> {
    this.#gracefulClose ??= (async () => {
      this.stopping.abort();
      this.txnManager.close();
      await this.shard.stop();
      await this.sync.finalSync(
        async (tick) => (await this.#appendDirect(tick.withWalTerm(this.channel.term))).id,
        this.options.closeTimeoutMs,
      );
    })();
    return this.#gracefulClose;
  }

  /** After the adapter closed: final checkpoint, then release everything. */
  close(): Promise<void> {
    this.#close ??= (async () => {
      this.stopping.abort();
      this.sync.stop();
      await this.shard.stop();
      await this.recovery.close();
      this.wab.close();
    })();
    return this.#close;
  }
}
