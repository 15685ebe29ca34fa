import { type MessageID, type MutableMessage, SystemMessageType, WalError } from '@walstream/core';
import type { AppendContext, AppendNext, Interceptor } from '@walstream/core/spi';
import { vchannelDropped } from '../errors.js';
import type { SemanticsStack } from '../semantics-stack.js';
import type { ShardManager } from './manager.js';
import { ShardMessageType } from './message-types.js';
import {
  DEFAULT_PARTITION_ID,
  decodeCollection,
  decodeCreateCollection,
  decodeCreateSegment,
  decodeDelete,
  decodeFlush,
  decodeInsert,
  decodePartition,
  encodeInsert,
  encodeManualFlush,
  overwriteHeader,
} from './messages.js';
import { insertBytes, type VChannelMeta } from './state.js';

/**
 * Innermost: the vchannel lifecycle and segment assignment. Checks run before the write; once a message
 * landed, the shard manager applies it to its state (the same code recovery replays the log with).
 */
export class ShardInterceptor implements Interceptor {
  readonly name = 'shard';
  readonly #stack: SemanticsStack;
  readonly #manager: ShardManager;
  readonly #pchannel: string;

  constructor(stack: SemanticsStack) {
    this.#stack = stack;
    this.#manager = stack.shard;
    this.#pchannel = stack.channel.name;
  }

  doAppend(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    const vchannel = message.vchannel;
    // Messages for every vchannel (TimeTicks) and for the pchannel itself are not the shard's business.
    if (vchannel === undefined || vchannel === this.#pchannel) return next(message, context);
    switch (message.messageType) {
      case ShardMessageType.CreateVChannel:
        return this.#createVChannel(vchannel, message, context, next);
      case ShardMessageType.DropVChannel:
        this.#manager.requireVChannel(vchannel);
        return this.#writeAndApply(message, context, next);
      case ShardMessageType.CreateCollection:
        return this.#createCollection(vchannel, message, context, next);
      case ShardMessageType.DropCollection: {
        const meta = this.#manager.requireCollection(vchannel);
        checkCollection(meta, decodeCollection(message, 'DropCollection').collectionId);
        return this.#writeAndApply(message, context, next);
      }
      case ShardMessageType.CreatePartition: {
        const meta = this.#manager.requireCollection(vchannel);
        checkCollection(meta, decodePartition(message, 'CreatePartition').collectionId);
        return this.#writeAndApply(message, context, next);
      }
      case ShardMessageType.DropPartition: {
        const meta = this.#manager.requireCollection(vchannel);
        const header = decodePartition(message, 'DropPartition');
        checkCollection(meta, header.collectionId);
        this.#manager.requirePartition(meta, header.partitionId);
        return this.#writeAndApply(message, context, next);
      }
      case ShardMessageType.Insert:
        return this.#insert(vchannel, message, context, next);
      case ShardMessageType.Delete: {
        const meta = this.#manager.requireCollection(vchannel);
        checkCollection(meta, decodeDelete(message).collectionId);
        return next(message, context);
      }
      case ShardMessageType.ManualFlush:
        return this.#manualFlush(vchannel, message, context, next);
      case ShardMessageType.CreateSegment: {
        const meta = this.#manager.requireCollection(vchannel);
        this.#manager.checkFence(meta, message.timeTick!);
        this.#manager.checkCreateSegment(meta, decodeCreateSegment(message));
        return this.#writeAndApply(message, context, next);
      }
      case ShardMessageType.Flush:
        this.#manager.checkFlush(decodeFlush(message).segmentId);
        return this.#writeAndApply(message, context, next);
      case SystemMessageType.CommitTxn:
        this.#manager.checkVChannel(vchannel);
        return this.#commit(message, context, next);
      default:
        this.#manager.checkVChannel(vchannel);
        return next(message, context);
    }
  }

  async #writeAndApply(
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ): Promise<MessageID> {
    const id = await next(message, context);
    this.#manager.landed(message.intoImmutable(id));
    return id;
  }

  async #createVChannel(
    vchannel: string,
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ): Promise<MessageID> {
    const finished = this.#manager.startVChannelCreate(vchannel);
    try {
      const existing = this.#manager.vchannel(vchannel);
      if (existing) this.#manager.checkFence(this.#manager.requireVChannel(vchannel), message.timeTick!);
      const id = await this.#writeAndApply(message, context, next);
      // A create of a vchannel that exists is written and changes nothing: an "ensure it exists".
      context.result.extra = { ...context.result.extra, created: existing === undefined };
      return id;
    } finally {
      finished();
    }
  }

  async #createCollection(
    vchannel: string,
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ): Promise<MessageID> {
    const header = decodeCreateCollection(message);
    const existing = this.#manager.vchannel(vchannel);
    if (existing?.state === 'dropped') throw vchannelDropped(this.#pchannel, vchannel);
    if (existing?.collectionId !== undefined && existing.collectionId !== header.collectionId) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `vchannel ${vchannel} already carries collection ${existing.collectionId}, not ${header.collectionId}`,
        { details: { vchannel } },
      );
    }
    // A repeated create of the same collection (a client retry) is written but changes nothing.
    return this.#writeAndApply(message, context, next);
  }

  async #insert(vchannel: string, message: MutableMessage, context: AppendContext, next: AppendNext) {
    const timeTick = message.timeTick!;
    const meta = this.#manager.requireCollection(vchannel);
    const header = decodeInsert(message);
    checkCollection(meta, header.collectionId);
    const partitionId = header.partitionId ?? DEFAULT_PARTITION_ID;
    this.#manager.requirePartition(meta, partitionId);
    const bytes = insertBytes(header.binarySize, message.payload);
    const txn = this.#stack.appendTxn.get(message);
    const segment = this.#manager.assign(meta, partitionId, header.rows, bytes, timeTick, txn);
    overwriteHeader(message, encodeInsert({ ...header, partitionId, segmentId: segment.segmentId }));
    let id: MessageID;
    try {
      id = await next(message, context);
    } catch (error) {
      this.#manager.insertSettled(segment, header.rows, bytes, undefined, txn);
      throw error;
    }
    this.#manager.insertSettled(segment, header.rows, bytes, message.intoImmutable(id), txn);
    return id;
  }

  async #commit(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    const id = await next(message, context);
    const txn = this.#stack.appendTxn.get(message);
    if (txn) this.#manager.txnCommitted(txn);
    return id;
  }

  async #manualFlush(vchannel: string, message: MutableMessage, context: AppendContext, next: AppendNext) {
    const timeTick = message.timeTick!;
    const meta = this.#manager.requireCollection(vchannel);
    const segmentIds = this.#manager.growingIds(vchannel);
    overwriteHeader(
      message,
      encodeManualFlush({ collectionId: meta.collectionId, flushTs: timeTick, segmentIds }),
    );
    const id = await this.#writeAndApply(message, context, next);
    context.result.extra = { ...context.result.extra, segmentIds };
    return id;
  }
}

function checkCollection(meta: VChannelMeta, collectionId: bigint | undefined): void {
  if (collectionId !== undefined && collectionId !== meta.collectionId) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `vchannel ${meta.name} carries collection ${meta.collectionId}, not ${collectionId}`,
      { details: { vchannel: meta.name } },
    );
  }
}
