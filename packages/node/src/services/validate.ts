import { type MutableMessage, SystemMessageType, WalError } from '@walstream/core';

/**
 * Properties only the WAL stamps (and the producer identity of an idempotent append, which the node stamps
 * from the request's own field); a producer that sends them is trying to write history.
 */
const STAMPED = ['_tt', '_lc', '_lcs', '_wt', '_pid', '_psq'];
/** Types a producer never appends: TimeTicks come from the WAL, a Txn exists only on the read side. */
const NOT_APPENDABLE = new Set<number>([SystemMessageType.TimeTick, SystemMessageType.Txn]);
const DECIMAL = /^(0|[1-9][0-9]{0,8})$/;

/**
 * Checks a message that came over the wire before it reaches the WAL: the interceptors trust what they
 * are handed, a remote producer is not trusted. INVALID_ARGUMENT, not retriable, naming the property.
 */
export function checkProduced(message: MutableMessage): void {
  const props = message.properties;
  for (const key of STAMPED) {
    if (props[key] !== undefined) {
      throw invalid(`property ${key} is stamped by the WAL; a producer may not set it`, key);
    }
  }
  const type = props._t;
  if (type !== undefined && !DECIMAL.test(type))
    throw invalid(`message type ${JSON.stringify(type)} is not a number`, '_t');
  if (type !== undefined && NOT_APPENDABLE.has(Number(type))) {
    throw invalid(`message type ${type} is written by the WAL or exists only for readers`, '_t');
  }
  const version = props._v;
  if (version !== undefined && !DECIMAL.test(version)) {
    throw invalid(`message version ${JSON.stringify(version)} is not a number`, '_v');
  }
}

function invalid(message: string, property: string): WalError {
  return new WalError('INVALID_ARGUMENT', message, { retriable: false, details: { property } });
}
