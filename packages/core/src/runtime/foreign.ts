import { WalError } from '../errors/wal-error.js';
import type { ImmutableMessage } from '../message/message.js';
import { decodeBase36, SystemProperty } from '../message/properties.js';
import { type MessageID, unmarshalMessageId } from '../message-id/message-id.js';
import type { Observability } from '../observability/observability.js';
import { DeliverPolicy } from '../walimpls/deliver-policy.js';
import type { RawScanner } from '../walimpls/spi.js';

/**
 * What a stack that writes TimeTicks does with a record in its log that is not a walstream message
 * (another client's record, a damaged one): `skip` it (counted and warned about) or `fail` the reader
 * (and the recovery replay) that meets it. The default is `skip`: one foreign record must not make a
 * pchannel unreadable, nor block every read-write reopen.
 */
export type ForeignRecordsPolicy = 'skip' | 'fail';

const INTEGER = /^-?\d+$/;

/**
 * Reasons an adapter gives (in `details.reason`) when it fails a reader on an entry it cannot decode: a
 * codec it does not know, bytes that do not decode, a feature it lacks. With `details.messageId` (the
 * marshalled id of the entry) the entry can be passed over by reading on after it.
 */
const UNDECODABLE = new Set(['unsupported-codec', 'malformed-payload', 'unsupported-feature']);

/** The entry an adapter failed a reader on because it cannot decode it, or undefined for other failures. */
export function undecodableEntry(
  error: unknown,
): { readonly messageId: string; readonly why: string } | undefined {
  if (!WalError.is(error) || error.retriable) return undefined;
  const { reason, messageId } = error.details;
  if (typeof reason !== 'string' || !UNDECODABLE.has(reason) || typeof messageId !== 'string')
    return undefined;
  return { messageId, why: error.message };
}

/**
 * Why `message` is not a walstream message of a stack that writes TimeTicks, or undefined when it is
 * one: every message such a stack writes has a timetick and a message type that parse.
 */
export function foreignReason(message: ImmutableMessage): string | undefined {
  const properties = message.properties;
  const timeTick = properties[SystemProperty.timeTick];
  if (timeTick === undefined) return 'it has no timetick (_tt)';
  try {
    decodeBase36(timeTick, 'timetick');
  } catch {
    return `its timetick (_tt) ${JSON.stringify(timeTick.slice(0, 40))} is not a base-36 number`;
  }
  const type = properties[SystemProperty.messageType];
  if (type === undefined) return 'it has no message type (_t)';
  if (!INTEGER.test(type))
    return `its message type (_t) ${JSON.stringify(type.slice(0, 40))} is not a number`;
  return undefined;
}

/** Applies one stack's policy: counts, warns about the first foreign record per reader, or fails. */
export class ForeignRecords {
  readonly policy: ForeignRecordsPolicy;
  readonly #observability: Observability;
  readonly #counter: ReturnType<Observability['meter']['createCounter']>;

  constructor(policy: ForeignRecordsPolicy, observability: Observability) {
    this.policy = policy;
    this.#observability = observability;
    this.#counter = observability.meter.createCounter('walstream.foreign_records', {
      unit: '{record}',
      description: 'Records in a log that are not walstream messages, skipped by readers and recovery',
    });
  }

  /**
   * A checker for one reader (`reader` names it in logs and errors): `message` returns true for a message
   * to skip and false for a walstream message; `failure` returns the id to read on after when the reader
   * failed on an entry the adapter cannot decode, undefined for any other failure. Under `fail` both
   * throw UNRECOVERABLE instead of skipping.
   */
  checker(reader: string, pchannel: string, walName: string): ForeignCheck {
    let warned = false;
    const skip = (id: string, why: string, cause?: unknown): void => {
      if (this.policy === 'fail') {
        throw new WalError(
          'UNRECOVERABLE',
          `${reader} of ${pchannel}: record ${id} is not a walstream message (${why}); ` +
            "runtime.foreignRecords: 'skip' passes over such records",
          { retriable: false, details: { reason: 'foreign-record', messageId: id, pchannel }, cause },
        );
      }
      this.#counter.add(1, { pchannel });
      if (warned) return;
      warned = true;
      this.#observability.logger.warn(
        { pchannel, reader, messageId: id, why },
        'skipped a record that is not a walstream message (further ones are only counted)',
      );
    };
    return {
      message: (message) => {
        const why = foreignReason(message);
        if (why === undefined) return false;
        skip(message.id.toString(), why);
        return true;
      },
      failure: (error) => {
        const entry = undecodableEntry(error);
        if (!entry) return undefined;
        skip(entry.messageId, entry.why, error);
        return unmarshalMessageId(walName, entry.messageId);
      },
    };
  }

  /**
   * `raw` with the policy applied to what it yields, for recovery replay (which reads the adapter):
   * foreign messages are skipped or fail; an entry the adapter cannot decode is passed over by reading
   * on after it (`reopen`), or fails.
   */
  wrap(
    first: RawScanner,
    pchannel: string,
    walName: string,
    reopen: (policy: DeliverPolicy) => Promise<RawScanner>,
  ): RawScanner {
    const check = this.checker(`recovery reader ${first.name}`, pchannel, walName);
    let raw = first;
    const filtered = async function* (): AsyncGenerator<ImmutableMessage> {
      for (;;) {
        try {
          for await (const message of raw) if (!check.message(message)) yield message;
          return;
        } catch (error) {
          const after = check.failure(error);
          if (!after) throw error;
          await raw.close();
          raw = await reopen(DeliverPolicy.startAfter(after));
        }
      }
    };
    return {
      get name() {
        return raw.name;
      },
      get buffered() {
        return raw.buffered;
      },
      get done() {
        return raw.done;
      },
      close: () => raw.close(),
      [Symbol.asyncDispose]: () => raw.close(),
      [Symbol.asyncIterator]: () => {
        const iterator = filtered();
        return {
          next: () => iterator.next(),
          return: async () => {
            await raw.close();
            return iterator.return(undefined);
          },
        };
      },
    };
  }
}

/** One reader's view of the policy (see {@link ForeignRecords.checker}). */
export interface ForeignCheck {
  message(message: ImmutableMessage): boolean;
  failure(error: unknown): MessageID | undefined;
}
