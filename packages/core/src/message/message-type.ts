import { WalError } from '../errors/wal-error.js';
import { processWide } from '../util/process-wide.js';

/** Encodes and decodes the payload of one application message type. */
export interface BodyCodec<Body> {
  encode(body: Body): Uint8Array;
  decode(bytes: Uint8Array): Body;
}

export interface MessageTypeFlags {
  /** Produced by the WAL runtime only; never filtered out by a type filter; users may not append it. */
  readonly system?: boolean;
  /** Written by the WAL itself (TimeTick, CreateSegment, Flush); never accepted from a replica. */
  readonly selfControlled?: boolean;
  /** Timetick order must equal id order on its vchannel: appended alone, under a write lock. */
  readonly exclusiveRequired?: boolean;
  /** Carries rows that the shard interceptor assigns to a growing segment. */
  readonly data?: boolean;
}

/** A registered message type. `Body` is the decoded payload type when a codec is given. */
export interface MessageTypeDefinition<Body = Uint8Array> {
  readonly name: string;
  /** The number written to `_t`. System types use the Milvus numbers. */
  readonly code: number;
  readonly flags: MessageTypeFlags;
  readonly codec?: BodyCodec<Body>;
}

/** The numbers of the system types, as written by the Milvus original. */
export const SystemMessageType = {
  Unknown: 0,
  TimeTick: 1,
  Flush: 4,
  ManualFlush: 9,
  CreateSegment: 10,
  BeginTxn: 900,
  CommitTxn: 901,
  RollbackTxn: 902,
  Txn: 999,
} as const;

export type SystemMessageTypeName = keyof typeof SystemMessageType;

const SYSTEM_DEFINITIONS: MessageTypeDefinition[] = [
  { name: 'TimeTick', code: 1, flags: { system: true, selfControlled: true } },
  { name: 'Flush', code: 4, flags: { selfControlled: true } },
  { name: 'ManualFlush', code: 9, flags: { exclusiveRequired: true } },
  { name: 'CreateSegment', code: 10, flags: { selfControlled: true } },
  { name: 'BeginTxn', code: 900, flags: { system: true } },
  { name: 'CommitTxn', code: 901, flags: { system: true } },
  { name: 'RollbackTxn', code: 902, flags: { system: true } },
  { name: 'Txn', code: 999, flags: { system: true } },
];

/**
 * Holds every message type by name and by number. System types are present from the start; application
 * types are added with {@link MessageTypeRegistry.register}.
 */
export class MessageTypeRegistry {
  readonly #byCode = new Map<number, MessageTypeDefinition<unknown>>();
  readonly #byName = new Map<string, MessageTypeDefinition<unknown>>();

  constructor() {
    for (const definition of SYSTEM_DEFINITIONS) this.#add(definition);
  }

  register<Body>(definition: MessageTypeDefinition<Body>): MessageTypeDefinition<Body> {
    if (!definition.name || !Number.isInteger(definition.code) || definition.code <= 0) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `message type needs a name and a positive integer code, got ${JSON.stringify({ name: definition.name, code: definition.code })}`,
      );
    }
    if (definition.flags.system || definition.flags.selfControlled) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `message type ${definition.name}: only walstream defines system or self-controlled types`,
      );
    }
    this.#add(definition);
    return definition;
  }

  get(code: number): MessageTypeDefinition<unknown> | undefined {
    return this.#byCode.get(code);
  }

  byName(name: string): MessageTypeDefinition<unknown> | undefined {
    return this.#byName.get(name);
  }

  /** The definition of `codeOrName`, or a NOT_REGISTERED error. */
  require(codeOrName: number | string): MessageTypeDefinition<unknown> {
    const found = typeof codeOrName === 'number' ? this.get(codeOrName) : this.byName(codeOrName);
    if (!found)
      throw new WalError('NOT_REGISTERED', `message type ${JSON.stringify(codeOrName)} is not registered`);
    return found;
  }

  isSystem(code: number): boolean {
    return this.get(code)?.flags.system === true;
  }

  isSelfControlled(code: number): boolean {
    return this.get(code)?.flags.selfControlled === true;
  }

  isExclusiveRequired(code: number): boolean {
    return this.get(code)?.flags.exclusiveRequired === true;
  }

  list(): MessageTypeDefinition<unknown>[] {
    return [...this.#byCode.values()].sort((a, b) => a.code - b.code);
  }

  #add(definition: MessageTypeDefinition<unknown>): void {
    const byCode = this.#byCode.get(definition.code);
    const byName = this.#byName.get(definition.name);
    // The same type defined again (a second copy of the package that defines it) is the same type.
    if (byCode && byCode === byName && sameType(byCode, definition)) return;
    if (byCode || byName) {
      throw new WalError(
        'ALREADY_REGISTERED',
        `message type ${definition.name} (${definition.code}) clashes with ${(byCode ?? byName)!.name} (${(byCode ?? byName)!.code})`,
      );
    }
    this.#byCode.set(definition.code, definition);
    this.#byName.set(definition.name, definition);
  }
}

/** The process-wide message types; the default registry shares it. */
/** The process-wide message type registry, shared by every copy of this package. */
function sameType(a: MessageTypeDefinition<unknown>, b: MessageTypeDefinition<unknown>): boolean {
  const flags = ['system', 'selfControlled', 'exclusiveRequired', 'data'] as const;
  return a.name === b.name && a.code === b.code && flags.every((flag) => !!a.flags[flag] === !!b.flags[flag]);
}

export const messageTypes: MessageTypeRegistry = processWide(
  'message-types.v1',
  () => new MessageTypeRegistry(),
);

/**
 * Declares and registers an application message type in one step, returning a typed handle for the
 * builder and for decoding bodies.
 */
export function defineMessageType<Body = Uint8Array>(
  definition: MessageTypeDefinition<Body>,
): MessageTypeDefinition<Body> {
  return messageTypes.register(definition);
}
