import {
  type ImmutableMessage,
  type MessageID,
  type MutableMessage,
  newMessage,
  type PChannelInfo,
  SystemMessageType,
  type Wal,
  WalError,
} from '@walstream/core';
import { type InterceptorBuildParams, sharedKey } from '@walstream/core/spi';
import type { ResolvedOptions, SemanticsOptions } from './options.js';
import { OwnMessages } from './own-messages.js';
import { registerStack } from './recovery/checkpoints.js';
import { type ReplayResult, replayToFence } from './recovery/replay.js';
import { type Checkpoint, loadCheckpoint, RecoveryStorage } from './recovery/storage.js';
import { RecoveryTxnBuffer } from './recovery/txn-buffer.js';
import { ShardManager } from './shard/manager.js';
import { shardMessageTypes } from './shard/message-types.js';
import { AckManager } from './timetick/ack-manager.js';
import { TimeTickSyncOperator } from './timetick/sync-operator.js';
import { TxnManager } from './timetick/txn-manager.js';
import type { TxnSession } from './timetick/txn-session.js';
import { WriteAheadBuffer } from './wab/write-ahead-buffer.js';

const STACK = sharedKey<Promise<SemanticsStack>>('walstream.interceptors.semantics');
const STACK_OPTIONS = sharedKey<SemanticsOptions | undefined>('walstream.interceptors.semantics.options');

/**
 * Everything the four semantics interceptors share on one WAL, built once per WAL by whichever of their
 * builders runs first ({@link SemanticsStack.of}). {@link build} reads top to bottom as the open of a term:
 *
 * 1. load the checkpoint (and the shard state saved with it) from the catalog;
 * 2. write the fencing TimeTick straight to the adapter;
 * 3. replay the log from the checkpoint to the fence;
 * 4. rebuild the txns open at the fence;
 * 5. start the ack manager (timeticks and the LC) where the previous term left off;
 * 6. the live shard: the recovered vchannels and segments, recovered txn inserts holding their segments;
 * 7. the write-ahead buffer, the checkpoint keeper and the TimeTick sync that feeds both;
 * 8. persist the recovered state before the first append of this term.
 *
 * Background work (sync, segment workers, checkpoints) starts once the WAL is open; closing stops it in
 * reverse.
 */
export class SemanticsStack {
  readonly channel: PChannelInfo;
  readonly options: ResolvedOptions;
  /** The TimeTick this term wrote first. */
  readonly fence: ImmutableMessage;
  readonly replay: ReplayResult;
  readonly own: OwnMessages;
  readonly txnManager: TxnManager;
  readonly ackManager: AckManager;
  readonly shard: ShardManager;
  readonly wab: WriteAheadBuffer;
  readonly recovery: RecoveryStorage;
  readonly sync: TimeTickSyncOperator;
  /** The txn session of a message in flight, for interceptors inside timeTick (shard). */
  readonly appendTxn = new WeakMap<MutableMessage, TxnSession>();
  /** Aborted when the WAL starts closing: waits inside the chain (redo) give up. */
  readonly stopping = new AbortController();
  readonly #appendDirect: (message: MutableMessage) => Promise<ImmutableMessage>;
  #gracefulClose: Promise<void> | undefined;
  #close: Promise<void> | undefined;

  /**
   * The stack of the WAL `params` belong to, built by the first caller. Every builder of one stack must be
   * given the same options object (`walSemantics(options)` does that).
   */
  static of(
    params: InterceptorBuildParams,
    raw: SemanticsOptions | undefined,
    options: ResolvedOptions,
  ): Promise<SemanticsStack> {
    const existing = params.shared.get(STACK);
    if (existing) {
      const first = params.shared.get(STACK_OPTIONS);
      if (raw !== undefined && first !== undefined && raw !== first) {
        throw new WalError(
          'INVALID_ARGUMENT',
          'the semantics interceptors of one stack got different options objects: pass the same one to each (walSemantics(options) does)',
        );
      }
      return existing;
    }
    params.shared.set(STACK_OPTIONS, raw);
    const built = SemanticsStack.build(params, options);
    params.shared.set(STACK, built);
    return built;
  }

  private constructor(parts: {
    params: InterceptorBuildParams;
    options: ResolvedOptions;
    fence: ImmutableMessage;
    replay: ReplayResult;
    own: OwnMessages;
    txnManager: TxnManager;
    ackManager: AckManager;
    shard: ShardManager;
    wab: WriteAheadBuffer;
    recovery: RecoveryStorage;
    sync: TimeTickSyncOperator;
  }) {
    this.channel = parts.params.channel;
    this.options = parts.options;
    this.fence = parts.fence;
    this.replay = parts.replay;
    this.own = parts.own;
    this.txnManager = parts.txnManager;
    this.ackManager = parts.ackManager;
    this.shard = parts.shard;
    this.wab = parts.wab;
    this.recovery = parts.recovery;
    this.sync = parts.sync;
    this.#appendDirect = parts.params.appendDirect;
  }

  private static async build(
    params: InterceptorBuildParams,
    options: ResolvedOptions,
  ): Promise<SemanticsStack> {
    const { channel, catalog, allocator, observability } = params;
    shardMessageTypes();

    // 1–2. The checkpoint, then the fence above everything an earlier term wrote.
    const loaded = await loadCheckpoint(catalog, channel.name);
    const fence = await writeFence(params, loaded.checkpoint?.lastConfirmed);
    if (loaded.checkpoint && loaded.checkpoint.lastConfirmed.walName !== fence.walName) {
      throw new WalError(
        'UNRECOVERABLE',
        `checkpoint of ${channel.name} was written by adapter ${loaded.checkpoint.lastConfirmed.walName}, this WAL is ${fence.walName}`,
      );
    }

    // 3. The log from the checkpoint up to the fence, applied to the checkpointed state.
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

    // 4. Txns open at the fence go on in this term, with their ids and last activity.
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

    // 5. The LC starts at the fence, or earlier at the begin of a txn that may still commit.
    let initialLastConfirmed: MessageID = fence.id;
    for (const txn of replay.openTxns) {
      if (txn.begin.id.compare(initialLastConfirmed) < 0) initialLastConfirmed = txn.begin.id;
    }
    let sync: TimeTickSyncOperator | undefined;
    const ackManager = new AckManager({
      allocator,
      initialLastConfirmed,
      floorTimeTick: fence.timeTick,
      recoveredTxns: replay.openTxns.map((txn, index) => ({ beginId: txn.begin.id, txn: sessions[index]! })),
      onAck: () => sync?.notify(),
    });

    // 6. The live shard keeps its own copy of the state; the checkpoint keeper moves the other.
    const own = new OwnMessages();
    const shard = new ShardManager(loaded.state.clone(), {
      pchannel: channel.name,
      options,
      allocator,
      own,
      append: async (message) => (await params.wal()).append(message),
      observability,
    });
    replay.openTxns.forEach((txn, index) => {
      shard.recoverTxnInserts(sessions[index]!, txn.bodies);
    });

    // 7. The write-ahead buffer starts at the fence; each sync fills it and moves the checkpoint.
    const wab = new WriteAheadBuffer(fence, options.wab);
    const recovery = new RecoveryStorage({
      catalog,
      pchannel: channel.name,
      term: channel.term,
      state: loaded.state,
      txns: txnBuffer,
      checkpoint: { lastConfirmed: initialLastConfirmed, timeTick: fence.timeTick },
      ...(loaded.flushed ? { flushed: loaded.flushed } : {}),
      persistIntervalMs: options.persistIntervalMs,
      maxDirtyMessages: options.maxDirtyMessages,
      observability,
    });
    sync = new TimeTickSyncOperator({
      pchannel: channel.name,
      ackManager,
      wab,
      own,
      append: async (tick) => (await (await params.wal()).append(tick)).messageId,
      gapMs: options.syncGapMs,
      maxPendingAcks: options.maxPendingAcks,
      idleIntervalMs: options.idleTickIntervalMs,
      onSynced: (messages, tick) => recovery.observe(messages, tick),
      observability,
    });

    // 8. The recovered state is durable before the first append of this term.
    await recovery.persist();
    observability.logger.info(
      {
        term: channel.term,
        replayed: replay.read,
        applied: replay.applied,
        openTxns: replay.openTxns.length,
        vchannels: shard.state.vchannels.size,
        segments: shard.state.segments.size,
      },
      'semantics stack recovered',
    );

    const stack = new SemanticsStack({
      params,
      options,
      fence,
      replay,
      own,
      txnManager,
      ackManager,
      shard,
      wab,
      recovery,
      sync,
    });
    void params.wal().then(
      (wal) => stack.#started(wal),
      () => undefined,
    );
    return stack;
  }

  /** The WAL is open: background work starts, and stops for good if a newer term fences the WAL. */
  #started(wal: Wal): void {
    if (this.#close) return;
    registerStack(wal, this);
    this.sync.start();
    this.shard.start();
    this.recovery.start();
    wal.state$.subscribe((state) => {
      if (state === 'fenced') {
        // A newer term owns the pchannel: no more ticks and checkpoints from this one.
        this.sync.stop();
        this.recovery.stop();
      }
    });
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

/**
 * Writes the first message of the term straight to the adapter: a persisted all-vchannel TimeTick at a
 * fresh timestamp, above everything an earlier term wrote. Its LC is the checkpoint's LC rather than its
 * own id (as in the original): a txn begun in the previous term may still commit in this one, and a reader
 * resuming from the fence must meet its begin.
 */
async function writeFence(
  params: InterceptorBuildParams,
  checkpointLastConfirmed: Checkpoint['lastConfirmed'] | undefined,
): Promise<ImmutableMessage> {
  params.allocator.sync();
  const fence = newMessage(SystemMessageType.TimeTick)
    .allVChannels()
    .build()
    .withTimeTick(await params.allocator.allocate())
    .withWalTerm(params.channel.term);
  if (checkpointLastConfirmed) fence.withLastConfirmed(checkpointLastConfirmed);
  else fence.withLastConfirmedUseMessageId();
  return params.appendDirect(fence);
}
