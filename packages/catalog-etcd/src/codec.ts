import { type BroadcastTaskRecord, type PChannelMeta, type WalCheckpoint, WalError } from '@walstream/core';

/**
 * The values the catalog stores: UTF-8 JSON objects with `"format": 1`, bigints as decimal strings and
 * payload bytes as base64, so `etcdctl get --prefix walstream/` shows readable records. docs/catalog-etcd.md
 * documents each shape; a change of shape means a new format number.
 */
export const FORMAT = 1;

export interface PChannelJson {
  readonly format: 1;
  readonly name: string;
  readonly term: string;
  readonly accessMode: 'rw' | 'ro';
  readonly state: PChannelMeta['state'];
  readonly nodeId?: string;
  readonly history: readonly { readonly nodeId: string; readonly term: string }[];
}

export interface BroadcastJson {
  readonly format: 1;
  readonly broadcastId: string;
  readonly state: BroadcastTaskRecord['state'];
  readonly payload: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly acked: readonly string[];
}

export interface CheckpointJson {
  readonly format: 1;
  readonly messageId: string;
  readonly walName: string;
  readonly timeTick: string;
  readonly term?: string;
  /** Fields a writer added beyond {@link WalCheckpoint} (the semantics state rides here), as given. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface HighWaterJson {
  readonly format: 1;
  readonly highWater: string;
}

const STATES: readonly string[] = ['uninitialized', 'assigning', 'assigned', 'unavailable'];
const TASK_STATES: readonly string[] = ['pending', 'done', 'tombstone'];
const CHECKPOINT_FIELDS = new Set(['messageId', 'walName', 'timeTick', 'term']);

export function encodePChannel(meta: PChannelMeta): string {
  const json: PChannelJson = {
    format: FORMAT,
    name: meta.channel.name,
    term: meta.channel.term.toString(),
    accessMode: meta.channel.accessMode,
    state: meta.state,
    ...(meta.nodeId === undefined ? {} : { nodeId: meta.nodeId }),
    history: meta.history.map((entry) => ({ nodeId: entry.nodeId, term: entry.term.toString() })),
  };
  return JSON.stringify(json);
}

export function encodeBroadcast(task: BroadcastTaskRecord): string {
  const json: BroadcastJson = {
    format: FORMAT,
    broadcastId: task.broadcastId.toString(),
    state: task.state,
    payload: Buffer.from(task.message.payload).toString('base64'),
    properties: { ...task.message.properties },
    acked: [...task.acked],
  };
  return JSON.stringify(json);
}

/** INVALID_ARGUMENT when a field a writer added cannot be stored as JSON (a bigint, a function). */
export function encodeCheckpoint(pchannel: string, checkpoint: WalCheckpoint): string {
  const extra: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(checkpoint)) {
    if (CHECKPOINT_FIELDS.has(field) || value === undefined) continue;
    if (!isJsonValue(value)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `the checkpoint of ${pchannel} has a field ${field} that cannot be stored as JSON`,
        { retriable: false, details: { pchannel, field } },
      );
    }
    extra[field] = value;
  }
  const json: CheckpointJson = {
    format: FORMAT,
    messageId: checkpoint.messageId,
    walName: checkpoint.walName,
    timeTick: checkpoint.timeTick.toString(),
    ...(checkpoint.term === undefined ? {} : { term: checkpoint.term.toString() }),
    ...(Object.keys(extra).length === 0 ? {} : { extra }),
  };
  return JSON.stringify(json);
}

export function encodeHighWater(value: bigint): string {
  const json: HighWaterJson = { format: FORMAT, highWater: value.toString() };
  return JSON.stringify(json);
}

function isJsonValue(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(isJsonValue);
      return Object.values(value).every((v) => v === undefined || isJsonValue(v));
    default:
      return false;
  }
}

/** Reads one stored value; anything but the documented shape is UNRECOVERABLE, naming the key. */
class Reader {
  readonly #key: string;
  readonly #json: Record<string, unknown>;

  constructor(key: string, bytes: Buffer) {
    this.#key = key;
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw this.corrupt(`it is not JSON (${(error as Error).message})`, error);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw this.corrupt('it is not a JSON object');
    }
    this.#json = parsed as Record<string, unknown>;
    if (this.#json.format !== FORMAT) {
      throw this.corrupt(`its format is ${JSON.stringify(this.#json.format)}, expected ${FORMAT}`);
    }
  }

  corrupt(why: string, cause?: unknown): WalError {
    return new WalError('UNRECOVERABLE', `etcd key ${this.#key} holds a damaged catalog record: ${why}`, {
      retriable: false,
      ...(cause === undefined ? {} : { cause }),
      details: { key: this.#key },
    });
  }

  string(field: string, from: Record<string, unknown> = this.#json): string {
    const value = from[field];
    if (typeof value !== 'string') throw this.corrupt(`${field} is not a string`);
    return value;
  }

  optionalString(field: string, from: Record<string, unknown> = this.#json): string | undefined {
    return from[field] === undefined ? undefined : this.string(field, from);
  }

  bigint(field: string, from: Record<string, unknown> = this.#json): bigint {
    const text = this.string(field, from);
    if (!/^-?\d+$/.test(text)) throw this.corrupt(`${field} is not a decimal integer`);
    return BigInt(text);
  }

  optionalBigint(field: string): bigint | undefined {
    return this.#json[field] === undefined ? undefined : this.bigint(field);
  }

  oneOf<T extends string>(field: string, values: readonly string[]): T {
    const value = this.string(field);
    if (!values.includes(value)) throw this.corrupt(`${field} is ${JSON.stringify(value)}`);
    return value as T;
  }

  array(field: string): unknown[] {
    const value = this.#json[field];
    if (!Array.isArray(value)) throw this.corrupt(`${field} is not an array`);
    return value;
  }

  object(field: string): Record<string, unknown> {
    const value = this.#json[field];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.corrupt(`${field} is not an object`);
    }
    return value as Record<string, unknown>;
  }

  has(field: string): boolean {
    return this.#json[field] !== undefined;
  }
}

export function decodePChannel(key: string, bytes: Buffer): PChannelMeta {
  const r = new Reader(key, bytes);
  const nodeId = r.optionalString('nodeId');
  return {
    channel: {
      name: r.string('name'),
      term: r.bigint('term'),
      accessMode: r.oneOf<'rw' | 'ro'>('accessMode', ['rw', 'ro']),
    },
    state: r.oneOf<PChannelMeta['state']>('state', STATES),
    ...(nodeId === undefined ? {} : { nodeId }),
    history: r.array('history').map((entry) => {
      if (typeof entry !== 'object' || entry === null) throw r.corrupt('a history entry is not an object');
      const fields = entry as Record<string, unknown>;
      return { nodeId: r.string('nodeId', fields), term: r.bigint('term', fields) };
    }),
  };
}

export function decodeBroadcast(key: string, bytes: Buffer): BroadcastTaskRecord {
  const r = new Reader(key, bytes);
  const properties: Record<string, string> = {};
  const stored = r.object('properties');
  for (const name of Object.keys(stored)) properties[name] = r.string(name, stored);
  const payload = r.string('payload');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload)) throw r.corrupt('payload is not base64');
  return {
    broadcastId: r.bigint('broadcastId'),
    state: r.oneOf<BroadcastTaskRecord['state']>('state', TASK_STATES),
    message: { payload: new Uint8Array(Buffer.from(payload, 'base64')), properties },
    acked: r.array('acked').map((vchannel) => {
      if (typeof vchannel !== 'string') throw r.corrupt('an acked vchannel is not a string');
      return vchannel;
    }),
  };
}

export function decodeCheckpoint(key: string, bytes: Buffer): WalCheckpoint {
  const r = new Reader(key, bytes);
  const term = r.optionalBigint('term');
  const extra = r.has('extra') ? r.object('extra') : {};
  return {
    ...extra,
    messageId: r.string('messageId'),
    walName: r.string('walName'),
    timeTick: r.bigint('timeTick'),
    ...(term === undefined ? {} : { term }),
  };
}

export function decodeHighWater(key: string, bytes: Buffer): bigint {
  return new Reader(key, bytes).bigint('highWater');
}
