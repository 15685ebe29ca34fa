import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type BroadcastTaskRecord,
  type Catalog,
  type PChannelMeta,
  type WalCheckpoint,
  WalError,
} from '@walstream/core';

/**
 * A catalog kept in one JSON file: what the embedded service needs to carry on after a restart — the
 * checkpoints with the state saved beside them (so recovery replays from the checkpoint, not from the
 * start of the log), the pchannels' terms, broadcast tasks and the timestamp high-water mark.
 *
 * Every change rewrites the file atomically (written aside, fdatasync'ed, renamed over it, the directory
 * synced) before the call resolves, as the {@link Catalog} contract asks ("durable when they resolve").
 * Changes made while a write is under way share the next one. One process at a time: the embedded
 * service keeps the file in the local log's directory, whose lock file keeps other processes out.
 */
export class FileCatalog implements Catalog {
  readonly file: string;
  readonly #pchannels = new Map<string, PChannelMeta>();
  readonly #broadcasts = new Map<bigint, BroadcastTaskRecord>();
  readonly #checkpoints = new Map<string, WalCheckpoint>();
  #highWater = 0n;
  #writing: Promise<void> | undefined;
  #again: Promise<void> | undefined;

  private constructor(file: string) {
    this.file = file;
  }

  /** The catalog in `file`, or an empty one when the file does not exist yet. UNRECOVERABLE when it is damaged. */
  static async open(file: string): Promise<FileCatalog> {
    const catalog = new FileCatalog(file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return catalog;
      throw error;
    }
    try {
      catalog.#load(JSON.parse(text) as CatalogJson);
    } catch (error) {
      throw new WalError('UNRECOVERABLE', `catalog ${file} is damaged: ${(error as Error).message}`, {
        retriable: false,
        cause: error,
        details: { file },
      });
    }
    return catalog;
  }

  async listPChannels(): Promise<PChannelMeta[]> {
    return [...this.#pchannels.values()].sort((a, b) => a.channel.name.localeCompare(b.channel.name));
  }

  async savePChannels(metas: readonly PChannelMeta[]): Promise<void> {
    for (const meta of metas) this.#pchannels.set(meta.channel.name, meta);
    await this.#persist();
  }

  async listBroadcastTasks(): Promise<BroadcastTaskRecord[]> {
    return [...this.#broadcasts.values()].sort((a, b) => (a.broadcastId < b.broadcastId ? -1 : 1));
  }

  async saveBroadcastTask(task: BroadcastTaskRecord): Promise<void> {
    this.#broadcasts.set(task.broadcastId, task);
    await this.#persist();
  }

  async removeBroadcastTask(broadcastId: bigint): Promise<void> {
    this.#broadcasts.delete(broadcastId);
    await this.#persist();
  }

  async getCheckpoint(pchannel: string): Promise<WalCheckpoint | undefined> {
    return this.#checkpoints.get(pchannel);
  }

  async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    // No await between the compare and the change: atomic within this process, the only one on the file.
    const stored = this.#checkpoints.get(pchannel)?.term ?? 0n;
    if (stored > (checkpoint.term ?? 0n)) return false;
    this.#checkpoints.set(pchannel, { ...checkpoint });
    await this.#persist();
    return true;
  }

  async getTimestampHighWater(): Promise<bigint> {
    return this.#highWater;
  }

  async saveTimestampHighWater(value: bigint): Promise<void> {
    if (value <= this.#highWater) return;
    this.#highWater = value;
    await this.#persist();
  }

  /** Resolves once a write that started after this call finished: the change made before it is on disk. */
  #persist(): Promise<void> {
    if (!this.#writing) {
      this.#writing = this.#write().finally(() => {
        this.#writing = undefined;
      });
      return this.#writing;
    }
    // A write is under way with older content: one more follows it, for every change made meanwhile.
    this.#again ??= this.#writing.then(
      () => {
        this.#again = undefined;
        return this.#persist();
      },
      () => {
        this.#again = undefined;
        return this.#persist();
      },
    );
    return this.#again;
  }

  async #write(): Promise<void> {
    const text = `${JSON.stringify(this.#json(), null, 1)}\n`;
    const directory = dirname(this.file);
    const aside = join(directory, `.${basename(this.file)}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await open(aside, 'w');
    try {
      await handle.writeFile(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    try {
      await rename(aside, this.file);
    } catch (error) {
      await unlink(aside).catch(() => undefined);
      throw error;
    }
    const dir = await open(directory, 'r').catch(() => undefined);
    if (dir) {
      await dir.sync().catch(() => undefined);
      await dir.close();
    }
  }

  #json(): CatalogJson {
    return {
      format: 1,
      pchannels: [...this.#pchannels.values()].map((meta) => ({
        name: meta.channel.name,
        term: meta.channel.term.toString(),
        accessMode: meta.channel.accessMode,
        state: meta.state,
        ...(meta.nodeId === undefined ? {} : { nodeId: meta.nodeId }),
        history: meta.history.map((entry) => ({ nodeId: entry.nodeId, term: entry.term.toString() })),
      })),
      broadcasts: [...this.#broadcasts.values()].map((task) => ({
        broadcastId: task.broadcastId.toString(),
        state: task.state,
        payload: Buffer.from(task.message.payload).toString('base64'),
        properties: { ...task.message.properties },
        acked: [...task.acked],
      })),
      checkpoints: Object.fromEntries(
        [...this.#checkpoints].map(([pchannel, { term, timeTick, ...rest }]) => [
          pchannel,
          {
            ...rest,
            timeTick: timeTick.toString(),
            ...(term === undefined ? {} : { term: term.toString() }),
          },
        ]),
      ),
      highWater: this.#highWater.toString(),
    };
  }

  #load(json: CatalogJson): void {
    if (json.format !== 1) throw new Error(`format ${String(json.format)}, expected 1`);
    for (const meta of json.pchannels) {
      this.#pchannels.set(meta.name, {
        channel: { name: meta.name, term: BigInt(meta.term), accessMode: meta.accessMode },
        state: meta.state,
        ...(meta.nodeId === undefined ? {} : { nodeId: meta.nodeId }),
        history: meta.history.map((entry) => ({ nodeId: entry.nodeId, term: BigInt(entry.term) })),
      });
    }
    for (const task of json.broadcasts) {
      this.#broadcasts.set(BigInt(task.broadcastId), {
        broadcastId: BigInt(task.broadcastId),
        state: task.state,
        message: {
          payload: new Uint8Array(Buffer.from(task.payload, 'base64')),
          properties: task.properties,
        },
        acked: task.acked,
      });
    }
    for (const [pchannel, checkpoint] of Object.entries(json.checkpoints)) {
      const { timeTick, term, messageId, walName, ...rest } = checkpoint;
      if (typeof messageId !== 'string' || typeof walName !== 'string') {
        throw new Error(`the checkpoint of ${pchannel} has no messageId or walName`);
      }
      this.#checkpoints.set(pchannel, {
        ...rest,
        messageId,
        walName,
        timeTick: BigInt(timeTick),
        ...(term === undefined ? {} : { term: BigInt(term) }),
      });
    }
    this.#highWater = BigInt(json.highWater);
  }
}

/** The file's shape: bigints as decimal strings, payloads as base64. */
interface CatalogJson {
  readonly format: number;
  readonly pchannels: readonly {
    readonly name: string;
    readonly term: string;
    readonly accessMode: 'rw' | 'ro';
    readonly state: PChannelMeta['state'];
    readonly nodeId?: string;
    readonly history: readonly { readonly nodeId: string; readonly term: string }[];
  }[];
  readonly broadcasts: readonly {
    readonly broadcastId: string;
    readonly state: BroadcastTaskRecord['state'];
    readonly payload: string;
    readonly properties: Record<string, string>;
    readonly acked: string[];
  }[];
  /** Checkpoints with every field a writer gave (the semantics interceptors add their state). */
  readonly checkpoints: Readonly<
    Record<
      string,
      {
        readonly messageId?: unknown;
        readonly walName?: unknown;
        readonly timeTick: string;
        readonly term?: string;
        readonly [field: string]: unknown;
      }
    >
  >;
  readonly highWater: string;
}
