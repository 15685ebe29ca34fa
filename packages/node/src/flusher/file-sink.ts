import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type ImmutableMessage,
  ImmutableTxnMessage,
  type PChannelInfo,
  unmarshalMessageId,
  WalError,
} from '@walstream/core';
import { checkKnownKeys, stringOption } from '@walstream/core/internal';
import type { FlushedMessage, FlushSink, FlushSinkWriter } from './sink.js';

/** Format version written in every record (`v`). */
export const FILE_SINK_VERSION = 1;

const EXTENSION = '.jsonl';

/** One message as the file sink writes it: one line of JSON (see docs/node.md, "Flusher and sinks"). */
export interface FileSinkRecord {
  /** Format version ({@link FILE_SINK_VERSION}). */
  readonly v: number;
  /** The message id, marshalled by its adapter. */
  readonly id: string;
  /** The adapter that wrote the WAL (`unmarshalMessageId(wal, id)`). */
  readonly wal: string;
  /** The timetick, decimal. */
  readonly tt: string;
  /** The message type number. */
  readonly type: number;
  /** Every property the message was written with, system ones included. */
  readonly properties: Readonly<Record<string, string>>;
  /** The payload, base64. */
  readonly payload: string;
  /** A committed txn: its body messages (the record itself is the commit). */
  readonly bodies?: readonly {
    readonly id: string;
    readonly properties: Record<string, string>;
    readonly payload: string;
  }[];
}

export interface FileSinkOptions {
  /** Root directory: one sub-directory per pchannel, one file per vchannel in it. */
  readonly directory: string;
  /** The sink's name (default `file`). */
  readonly name?: string;
}

/**
 * A flush sink that appends each vchannel's messages to its own file, `<directory>/<pchannel>/<vchannel>.jsonl`
 * (both names URI-encoded): one JSON line per message, fdatasync'ed on every sync, the directory fsync'ed
 * when a file was created. At open a torn last line (no newline: the process died mid-write) is cut, and
 * the last whole line of each file says what the sink holds.
 */
export function fileSink(options: FileSinkOptions): FlushSink {
  checkKnownKeys('fileSink', options, ['directory', 'name']);
  if (options.directory === undefined) {
    throw new WalError('INVALID_ARGUMENT', 'fileSink: option directory is required', {
      retriable: false,
      details: { option: 'directory' },
    });
  }
  const directory = stringOption('fileSink', 'directory', options.directory, '', false);
  const name = stringOption('fileSink', 'name', options.name, 'file');
  return {
    name,
    async open(channel: PChannelInfo): Promise<FlushSinkWriter> {
      const dir = join(directory, encodeURIComponent(channel.name));
      await mkdir(dir, { recursive: true });
      await syncDirectory(directory);
      const durable = new Map<string, FlushedMessage>();
      for (const entry of await readdir(dir)) {
        if (!entry.endsWith(EXTENSION)) continue;
        const last = await recoverTail(join(dir, entry));
        if (last) {
          durable.set(decodeURIComponent(entry.slice(0, -EXTENSION.length)), {
            messageId: unmarshalMessageId(last.wal, last.id),
            timeTick: BigInt(last.tt),
          });
        }
      }
      return new FileSinkWriter(dir, durable);
    },
  };
}

/** The path of a vchannel's file under a file sink's directory. */
export function fileSinkPath(directory: string, pchannel: string, vchannel: string): string {
  return join(directory, encodeURIComponent(pchannel), `${encodeURIComponent(vchannel)}${EXTENSION}`);
}

/** Reads a file sink's file, oldest record first; a torn last line is skipped. */
export async function* readFileSink(path: string): AsyncGenerator<FileSinkRecord> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let pending: string | undefined;
  for await (const line of lines) {
    // A line is whole only once the next one started; the last one is checked at the end.
    if (pending !== undefined) yield parseRecord(pending, path);
    pending = line;
  }
  if (pending !== undefined && pending.length > 0) {
    try {
      yield JSON.parse(pending) as FileSinkRecord;
    } catch {
      // Torn by a crash mid-write: the sink cuts it at its next open.
    }
  }
}

class FileSinkWriter implements FlushSinkWriter {
  readonly durable: ReadonlyMap<string, FlushedMessage>;
  readonly #dir: string;
  readonly #files = new Map<string, FileHandle>();
  readonly #dirty = new Set<FileHandle>();
  #newFiles = false;

  constructor(dir: string, durable: ReadonlyMap<string, FlushedMessage>) {
    this.#dir = dir;
    this.durable = durable;
  }

  async write(vchannel: string, messages: readonly ImmutableMessage[]): Promise<void> {
    let file = this.#files.get(vchannel);
    if (!file) {
      file = await open(join(this.#dir, `${encodeURIComponent(vchannel)}${EXTENSION}`), 'a');
      this.#files.set(vchannel, file);
      this.#newFiles = true;
    }
    const text = messages.map((message) => `${JSON.stringify(toRecord(message))}\n`).join('');
    await file.write(text);
    this.#dirty.add(file);
  }

  async sync(): Promise<void> {
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    await Promise.all(dirty.map((file) => file.datasync()));
    if (this.#newFiles) {
      this.#newFiles = false;
      await syncDirectory(this.#dir);
    }
  }

  async close(): Promise<void> {
    const files = [...this.#files.values()];
    this.#files.clear();
    await Promise.allSettled(files.map((file) => file.close()));
  }
}

function toRecord(message: ImmutableMessage): FileSinkRecord {
  const record: FileSinkRecord = {
    v: FILE_SINK_VERSION,
    id: message.id.marshal(),
    wal: message.walName,
    tt: message.timeTick.toString(),
    type: message.messageType,
    properties: message.properties,
    payload: Buffer.from(message.payload).toString('base64'),
  };
  if (!(message instanceof ImmutableTxnMessage)) return record;
  return {
    ...record,
    bodies: message.bodies.map((body) => ({
      id: body.id.marshal(),
      properties: { ...body.properties },
      payload: Buffer.from(body.payload).toString('base64'),
    })),
  };
}

function parseRecord(line: string, path: string): FileSinkRecord {
  try {
    return JSON.parse(line) as FileSinkRecord;
  } catch (error) {
    throw new WalError('UNRECOVERABLE', `file sink ${path}: a record before the last one is not JSON`, {
      cause: error,
      retriable: false,
    });
  }
}

/**
 * Cuts a torn last line (one without its newline) and returns the last whole record, reading backwards
 * from the end in growing windows so a long file is not read whole.
 */
async function recoverTail(path: string): Promise<FileSinkRecord | undefined> {
  const file = await open(path, 'r+');
  try {
    const size = (await file.stat()).size;
    let window = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - window);
      const bytes = Buffer.alloc(size - start);
      await file.read(bytes, 0, bytes.length, start);
      let end = bytes.length;
      if (end > 0 && bytes[end - 1] !== 0x0a) {
        const cut = bytes.lastIndexOf(0x0a);
        if (cut < 0 && start > 0) {
          window *= 2;
          continue;
        }
        // Everything after the last newline never became a whole record.
        end = cut + 1;
        await file.truncate(start + end);
        await file.datasync();
      }
      if (end === 0) return undefined;
      const previous = end >= 2 ? bytes.lastIndexOf(0x0a, end - 2) : -1;
      if (previous < 0 && start > 0) {
        window *= 2;
        continue;
      }
      return parseRecord(bytes.subarray(previous + 1, end - 1).toString('utf8'), path);
    }
  } finally {
    await file.close();
  }
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
