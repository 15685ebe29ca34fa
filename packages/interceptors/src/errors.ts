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

/** An append to a vchannel that was never created on this pchannel; says how to create it. */
export function vchannelNotFound(pchannel: string, vchannel: string): WalError {
  return new WalError(
    'VCHANNEL_NOT_FOUND',
    `vchannel ${vchannel} does not exist on pchannel ${pchannel}: append createVChannel('${vchannel}') first`,
    { details: { pchannel, vchannel } },
  );
}

/** An append to a vchannel that was dropped: it takes no more messages, and its name is not reused. */
export function vchannelDropped(pchannel: string, vchannel: string): WalError {
  return new WalError(
    'VCHANNEL_DROPPED',
    `vchannel ${vchannel} was dropped on pchannel ${pchannel}: it takes no more messages and its name is not reused`,
    { details: { pchannel, vchannel } },
  );
}

/**
 * A collection, partition or segment message on a vchannel that carries no collection. UNRECOVERABLE with
 * a reason, as the original answers a missing collection.
 */
export function collectionNotFound(vchannel: string): WalError {
  return new WalError(
    'UNRECOVERABLE',
    `vchannel ${vchannel} carries no collection: append shardMessages.createCollection('${vchannel}', …) first`,
    { details: { vchannel, reason: 'collection-not-found' } },
  );
}
