import { WalError } from '../errors/wal-error.js';

/**
 * The reserved property keys of the Milvus message format. Every system fact about a message lives in a
 * property with one of these keys; user keys may not start with `_`.
 */
export const SystemProperty = {
  version: '_v',
  messageType: '_t',
  timeTick: '_tt',
  barrierTimeTick: '_btt',
  lastConfirmed: '_lc',
  lastConfirmedIsSelf: '_lcs',
  vchannel: '_vc',
  header: '_h',
  broadcastHeader: '_bh',
  txnContext: '_tx',
  cipherHeader: '_ch',
  notPersisted: '_np',
  replicateHeader: '_rh',
  walTerm: '_wt',
} as const;

export type Properties = Readonly<Record<string, string>>;

/** Message format versions; walstream writes V2. */
export const MessageVersion = { Old: 0, V1: 1, V2: 2 } as const;

/** Timeticks and terms are written base-36, as the original does. */
export function encodeBase36(value: bigint): string {
  if (value < 0n) return `-${(-value).toString(36)}`;
  return value.toString(36);
}

const BASE36_DIGITS = /^-?[0-9a-z]+$/;

export function decodeBase36(text: string, what = 'value'): bigint {
  const lower = text.toLowerCase();
  if (!BASE36_DIGITS.test(lower)) {
    throw new WalError('INVALID_ARGUMENT', `${what} is not a base-36 number: ${JSON.stringify(text)}`);
  }
  const negative = lower.startsWith('-');
  let result = 0n;
  for (const char of negative ? lower.slice(1) : lower)
    result = result * 36n + BigInt(Number.parseInt(char, 36));
  return negative ? -result : result;
}

export function isReservedPropertyKey(key: string): boolean {
  return key.startsWith('_');
}

export function assertUserProperties(properties: Properties): void {
  for (const key of Object.keys(properties)) {
    if (isReservedPropertyKey(key)) {
      throw new WalError(
        'INVALID_ARGUMENT',
        `property key ${JSON.stringify(key)} is reserved: user keys may not start with "_"`,
      );
    }
  }
}
