import { WalError } from '../errors/wal-error.js';
import type { ImmutableMessage } from '../message/message.js';
import { decodeBase36, SystemProperty } from '../message/properties.js';
import type { Observability } from '../observability/observability.js';
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
   * A checker for one reader (`reader` names it in logs and errors): returns true for a message to skip,
   * false for a walstream message, and throws UNRECOVERABLE under `fail`.
   */
  checker(reader: string, pchannel: string): (message: ImmutableMessage) => boolean {
    let warned = false;
    return (message) => {
      const why = foreignReason(message);
      if (why === undefined) return false;
      const id = message.id.toString();
      if (this.policy === 'fail') {
        throw new WalError(
          'UNRECOVERABLE',
          `${reader} of ${pchannel}: record ${id} is not a walstream message (${why}); ` +
            "runtime.foreignRecords: 'skip' passes over such records",
          { retriable: false, details: { reason: 'foreign-record', messageId: id, pchannel } },
        );
      }
      this.#counter.add(1, { pchannel });
      if (!warned) {
        warned = true;
        this.#observability.logger.warn(
          { pchannel, reader, messageId: id, why },
          'skipped a record that is not a walstream message (further ones are only counted)',
        );
      }
      return true;
    };
  }

  /** `raw` with the policy applied to what it yields (for recovery replay, which reads the adapter). */
  wrap(raw: RawScanner, pchannel: string): RawScanner {
    const skip = this.checker(`recovery reader ${raw.name}`, pchannel);
    const filtered = async function* (): AsyncGenerator<ImmutableMessage> {
      for await (const message of raw) if (!skip(message)) yield message;
    };
    return {
      get name() {
        return raw.name;
      },
      get buffered() {
        return raw.buffered;
      },
      done: raw.done,
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
