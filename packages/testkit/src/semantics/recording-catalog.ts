import type { BroadcastTaskRecord, Catalog, PChannelMeta, WalCheckpoint } from '@walstream/core';

/** One `saveCheckpoint` call: the term that asked, in call order, and what the catalog answered. */
export interface CheckpointSave {
  readonly term: bigint;
  /** The highest term whose save the catalog had accepted when this one was made. */
  readonly newestAccepted: bigint | undefined;
  /** undefined while pending; `rejected` when the call failed. */
  result?: boolean | 'rejected';
}

/**
 * The options' catalog of one stack, passed through unchanged, recording every `saveCheckpoint`: how the
 * stack's WALs of each term persisted, and whether a fenced one was refused.
 */
export class RecordingCatalog implements Catalog {
  readonly inner: Catalog;
  readonly saves: CheckpointSave[] = [];
  #newest: bigint | undefined;

  constructor(inner: Catalog) {
    this.inner = inner;
  }

  listPChannels(): Promise<PChannelMeta[]> {
    return this.inner.listPChannels();
  }
  savePChannels(metas: readonly PChannelMeta[]): Promise<void> {
    return this.inner.savePChannels(metas);
  }
  listBroadcastTasks(): Promise<BroadcastTaskRecord[]> {
    return this.inner.listBroadcastTasks();
  }
  saveBroadcastTask(task: BroadcastTaskRecord): Promise<void> {
    return this.inner.saveBroadcastTask(task);
  }
  removeBroadcastTask(broadcastId: bigint): Promise<void> {
    return this.inner.removeBroadcastTask(broadcastId);
  }
  getCheckpoint(pchannel: string): Promise<WalCheckpoint | undefined> {
    return this.inner.getCheckpoint(pchannel);
  }
  async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    const save: CheckpointSave = { term: checkpoint.term ?? 0n, newestAccepted: this.#newest };
    this.saves.push(save);
    try {
      save.result = await this.inner.saveCheckpoint(pchannel, checkpoint);
    } catch (error) {
      save.result = 'rejected';
      throw error;
    }
    if (save.result && (this.#newest === undefined || save.term > this.#newest)) this.#newest = save.term;
    return save.result;
  }
  getTimestampHighWater(): Promise<bigint> {
    return this.inner.getTimestampHighWater();
  }
  saveTimestampHighWater(value: bigint): Promise<void> {
    return this.inner.saveTimestampHighWater(value);
  }
}
