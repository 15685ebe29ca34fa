import { WalError } from '@walstream/core';

const kReady = Symbol.for('walstream.redo.ready');

/**
 * The internal "run the chain again with a fresh timetick" signal an inner interceptor throws (the shard
 * does when a timetick is too old for a segment, or a segment is being created). Coded INNER with
 * `details.redo = true`; it never reaches a caller unless the redo interceptor is missing from the stack.
 */
export function redoRequest(reason: string, ready?: Promise<void>): WalError {
  const error = new WalError('INNER', `redo: ${reason} (the redo interceptor reruns the append)`, {
    details: { redo: true },
  });
  if (ready) Object.defineProperty(error, kReady, { value: ready, enumerable: false });
  return error;
}

export function isRedoRequest(error: unknown): error is WalError {
  return WalError.is(error) && error.code === 'INNER' && error.details.redo === true;
}

/** What to wait for before the rerun (e.g. the new segment), if anything. */
export function redoReady(error: WalError): Promise<void> | undefined {
  return (error as unknown as { [kReady]?: Promise<void> })[kReady];
}

/** A message on a vchannel that does not exist (reason `vchannel-not-found`) or was dropped (`vchannel-dropped`). */
export function vchannelError(vchannel: string, reason: 'vchannel-not-found' | 'vchannel-dropped'): WalError {
  const text =
    reason === 'vchannel-dropped'
      ? `vchannel ${vchannel} was dropped`
      : `vchannel ${vchannel} does not exist (create it with CreateCollection first)`;
  return new WalError('UNRECOVERABLE', text, { details: { vchannel, reason } });
}
