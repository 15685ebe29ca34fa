import { WalError } from '@walstream/core';

/**
 * Every error this adapter raises, in one place so codes and wording stay stable. Messages name the
 * pchannel; `details` carry the facts for logs.
 */
export const errors = {
  closed(what: string, channel: string): WalError {
    return new WalError('CLOSED', `${what} of pchannel ${channel}: the memory WAL is closed`, {
      retriable: false,
      details: { channel },
    });
  },

  openerClosed(): WalError {
    return new WalError('CLOSED', 'the memory opener is closed', { retriable: false });
  },

  readOnly(what: string, channel: string): WalError {
    return new WalError('READ_ONLY', `${what} of pchannel ${channel}: the memory WAL was opened read-only`, {
      retriable: false,
      details: { channel },
    });
  },

  fencedByTerm(what: string, channel: string, term: bigint, highest: bigint): WalError {
    return new WalError(
      'CHANNEL_FENCED',
      `${what} of pchannel ${channel} at term ${term}: fenced by term ${highest}`,
      { retriable: false, details: { channel, term, fencedBy: highest } },
    );
  },

  fencedByFault(channel: string): WalError {
    return new WalError('CHANNEL_FENCED', `append to pchannel ${channel}: fenced (injected fault)`, {
      retriable: false,
      details: { channel, injected: true },
    });
  },

  injectedLostAck(channel: string): WalError {
    return new WalError(
      'UNAVAILABLE',
      `append to pchannel ${channel}: written, but the acknowledgement was lost (injected fault)`,
      { retriable: true, details: { channel, injected: true, written: true } },
    );
  },
  injectedUnavailable(channel: string): WalError {
    return new WalError('UNAVAILABLE', `append to pchannel ${channel}: unavailable (injected fault)`, {
      retriable: true,
      details: { channel, injected: true, written: false },
    });
  },

  capacity(
    channel: string,
    limit: 'maxEntriesPerChannel' | 'maxBytesPerChannel',
    max: number,
    now: number,
  ): WalError {
    return new WalError(
      'CAPACITY_EXCEEDED',
      `append to pchannel ${channel}: ${limit} (${max}) would be exceeded (${now} retained); truncate to free room`,
      { retriable: false, details: { channel, limit, max, retained: now } },
    );
  },

  /** A bad option of `where`: the message and `details.option` name it. */
  invalidOption(where: string, option: string, must: string): WalError {
    return new WalError('INVALID_ARGUMENT', `${where}: option ${option} must be ${must}`, {
      retriable: false,
      details: { option },
    });
  },

  invalid(message: string, channel?: string): WalError {
    return new WalError('INVALID_ARGUMENT', channel ? `pchannel ${channel}: ${message}` : message, {
      retriable: false,
      ...(channel ? { details: { channel } } : {}),
    });
  },
};
