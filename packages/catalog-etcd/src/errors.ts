import { WalError } from '@walstream/core';
import { BrokenCircuitError, TaskCancelledError } from 'cockatiel';
import {
  ClientClosedError,
  EtcdError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  isRecoverableError,
} from 'etcd3';

/**
 * A failed etcd call as a coded error. Anything that may pass when the call is made again — etcd
 * unreachable, a deadline, a leader election in progress — is UNAVAILABLE and retriable; a call on a
 * closed client is CLOSED; the rest (permissions, a request etcd refuses) is UNKNOWN and not retriable.
 * `what` names the operation and key: `save checkpoint walstream/checkpoints/p1`.
 */
export function etcdError(error: unknown, what: string): WalError {
  if (WalError.is(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ClientClosedError) {
    return new WalError('CLOSED', `${what}: the etcd client is closed`, { cause: error, retriable: false });
  }
  if (
    error instanceof GRPCUnavailableError ||
    error instanceof GRPCDeadlineExceededError ||
    error instanceof BrokenCircuitError ||
    error instanceof TaskCancelledError ||
    (error instanceof Error && isRecoverableError(error)) ||
    (error instanceof EtcdError && /leader|timed out|too many requests/i.test(message))
  ) {
    return new WalError('UNAVAILABLE', `${what}: etcd is unavailable: ${message}`, {
      cause: error,
      retriable: true,
    });
  }
  return new WalError('UNKNOWN', `${what}: ${message}`, { cause: error, retriable: false });
}
