import type { BroadcastTaskRecord, Catalog, PChannelMeta, WalCheckpoint } from './catalog.js';

/** A {@link Catalog} that lives in this process; for the embedded mode and tests. */
export class MemoryCatalog implements Catalog {
  readonly #pchannels = new Map<string, PChannelMeta>();
  readonly #broadcasts = new Map<bigint, BroadcastTaskRecord>();
  readonly #checkpoints = new Map<string, WalCheckpoint>();
  #highWater = 0n;

  async listPChannels(): Promise<PChannelMeta[]> {
    return [...this.#pchannels.values()].sort((a, b) => a.channel.name.localeCompare(b.channel.name));
  }

  async savePChannels(metas: readonly PChannelMeta[]): Promise<void> {
    for (const meta of metas) this.#pchannels.set(meta.channel.name, meta);
  }

  async listBroadcastTasks(): Promise<BroadcastTaskRecord[]> {
    return [...this.#broadcasts.values()].sort((a, b) => (a.broadcastId < b.broadcastId ? -1 : 1));
  }

  async saveBroadcastTask(task: BroadcastTaskRecord): Promise<void> {
    this.#broadcasts.set(task.broadcastId, task);
  }

  async removeBroadcastTask(broadcastId: bigint): Promise<void> {
    this.#broadcasts.delete(broadcastId);
  }

  async getCheckpoint(pchannel: string): Promise<WalCheckpoint | undefined> {
    return this.#checkpoints.get(pchannel);
  }

  async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    // No await between the compare and the write: atomic within this process.
    const stored = this.#checkpoints.get(pchannel)?.term ?? 0n;
    if (stored > (checkpoint.term ?? 0n)) return false;
    this.#checkpoints.set(pchannel, checkpoint);
    return true;
  }

  async getTimestampHighWater(): Promise<bigint> {
    return this.#highWater;
  }

  async saveTimestampHighWater(value: bigint): Promise<void> {
    if (value > this.#highWater) this.#highWater = value;
  }
}
