import { WalError } from '@walstream/core';

/**
 * Every error this adapter raises, in one place so codes and wording stay stable. Messages name the
 * pchannel, and the file and byte position where the disk is involved; `details` carry the facts.
 */
export const errors = {
  closed(what: string, channel: string): WalError {
    return new WalError('CLOSED', `${what} of pchannel ${channel}: the local WAL is closed`, {
      retriable: false,
      details: { channel },
    });
  },

  openerClosed(): WalError {
    return new WalError('CLOSED', 'the local opener is closed', { retriable: false });
  },

  readOnly(what: string, channel: string): WalError {
    return new WalError('READ_ONLY', `${what} of pchannel ${channel}: the local WAL was opened read-only`, {
      retriable: false,
      details: { channel },
    });
  },

  fencedByTerm(what: string, channel: string, term: bigint, highest: bigint): WalError {
    return new WalError(
      'CHANNEL_FENCED',
      `${what} of pchannel ${channel} at term ${term}: fenced by term ${highest}`,
      { retriable: false, details: { channel, term, fencedBy: highest, written: false } },
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

  /** Another process holds the directory's lock file. */
  locked(directory: string, holder: string, lockFile: string): WalError {
    return new WalError(
      'RESOURCE_ACQUIRED',
      `local log directory ${directory} is in use by ${holder}: one process at a time may open it ` +
        `(the lock file is ${lockFile}; it is taken over by itself once that process has exited)`,
      { retriable: true, details: { directory, lockFile, holder } },
    );
  },

  /** Data on disk that recovery may not cut: a damaged record with good records after it, a broken header. */
  corrupt(file: string, position: number, reason: string, channel?: string): WalError {
    return new WalError(
      'UNRECOVERABLE',
      `${channel ? `pchannel ${channel}: ` : ''}corrupt local log: ${file} at byte ${position}: ${reason}`,
      { retriable: false, details: { file, position, reason, ...(channel ? { channel } : {}) } },
    );
  },

  /**
   * A write or fdatasync failed. What reached the disk is unknown, so the log stops taking appends until
   * it is opened again (recovery then cuts whatever half-written tail there is).
   */
  ioFailed(what: string, channel: string, file: string, cause: unknown): WalError {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new WalError(
      'UNAVAILABLE',
      `${what} of pchannel ${channel} failed (${file}: ${reason}); the log takes no more appends until it is opened again`,
      { retriable: false, cause, details: { channel, file } },
    );
  },

  /** The log failed earlier (see {@link ioFailed}); it stays failed until every WAL on it closed. */
  failed(what: string, channel: string, cause: unknown): WalError {
    return new WalError(
      'UNAVAILABLE',
      `${what} of pchannel ${channel}: an earlier write failed; close every WAL of the pchannel and open it again`,
      { retriable: false, cause, details: { channel, written: false } },
    );
  },

  tooLarge(channel: string, bytes: number, max: number): WalError {
    return new WalError(
      'INVALID_ARGUMENT',
      `append to pchannel ${channel}: the record would take ${bytes} bytes, more than maxRecordBytes (${max})`,
      { retriable: false, details: { channel, bytes, max, written: false } },
    );
  },
};
