import { WalError } from '../errors/wal-error.js';
import { checkKnownKeys } from '../options/check.js';
import type { DeliverPolicy } from '../walimpls/deliver-policy.js';
import { checkDeliverPolicy, checkReadAheadBufferSize } from '../walimpls/read-options.js';
import type { DeliverFilter } from './filters.js';
import type { ScanOptions } from './wal.js';

const SCAN_KEYS = ['name', 'vchannel', 'deliverPolicy', 'filters', 'readAheadBufferSize', 'signal'] as const;
const FILTER_KINDS: ReadonlySet<string> = new Set(['timeTickGT', 'timeTickGTE', 'messageType']);

export interface CheckedScanOptions {
  readonly deliverPolicy: DeliverPolicy;
  readonly readAheadBufferSize: number | undefined;
  readonly filters: readonly DeliverFilter[];
}

/** Every read option checked before the adapter sees any, each failure naming its option. */
export function checkScanOptions(walName: string, options: ScanOptions): CheckedScanOptions {
  const where = 'wal.read';
  checkKnownKeys(where, options, SCAN_KEYS);
  for (const key of ['name', 'vchannel'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw invalid(where, key, 'a non-empty string');
    }
  }
  const filters = options.filters ?? [];
  if (
    !Array.isArray(filters) ||
    filters.some((f) => !FILTER_KINDS.has((f as { kind?: string })?.kind ?? ''))
  ) {
    throw invalid(where, 'filters', 'an array of DeliverFilter.* filters');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalid(where, 'signal', 'an AbortSignal');
  }
  return {
    deliverPolicy: checkDeliverPolicy(where, options.deliverPolicy, walName),
    readAheadBufferSize: checkReadAheadBufferSize(where, options.readAheadBufferSize),
    filters,
  };
}

function invalid(where: string, option: string, must: string): WalError {
  return new WalError('INVALID_ARGUMENT', `${where}: option ${option} must be ${must}`, {
    retriable: false,
    details: { option },
  });
}
