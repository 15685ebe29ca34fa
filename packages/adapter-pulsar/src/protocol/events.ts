import type { WalError } from '@walstream/core';

/**
 * What a producer or a reader tells about work nobody awaits: losing its connection, re-attaching,
 * giving up. The adapter turns these into the stack's observability events.
 */
export interface BackgroundEvents {
  /** A failure it rides out by itself (`retrying`), or one that ended it for good. */
  failed(error: WalError, retrying: boolean): void;
  /** Back at work after a failure. */
  recovered(message: string): void;
}

/** The default: nobody listens. */
export const IGNORED_EVENTS: BackgroundEvents = Object.freeze({
  failed: () => {},
  recovered: () => {},
});
