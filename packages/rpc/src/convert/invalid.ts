import { WalError, type WalErrorOptions } from '@walstream/core';

/** The error every conversion throws for a wire message it cannot turn into a core value. */
export function invalidWire(message: string, options: Omit<WalErrorOptions, 'retriable'> = {}): WalError {
  return new WalError('INVALID_ARGUMENT', message, { ...options, retriable: false });
}

/** `value`, or INVALID_ARGUMENT naming the missing field when a peer left a required message field unset. */
export function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw invalidWire(`${field} is missing`, { details: { field } });
  return value;
}
