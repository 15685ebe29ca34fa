import { type ErrorCode, WalError } from '@walstream/core';

/** Pulsar's `ServerError` numbers (PulsarApi.proto), the ones the client tells apart. */
export const ServerError = {
  UnknownError: 0,
  MetadataError: 1,
  PersistenceError: 2,
  AuthenticationError: 3,
  AuthorizationError: 4,
  ConsumerBusy: 5,
  ServiceNotReady: 6,
  ProducerBlockedQuotaExceededError: 7,
  ProducerBlockedQuotaExceededException: 8,
  ChecksumError: 9,
  UnsupportedVersionError: 10,
  TopicNotFound: 11,
  SubscriptionNotFound: 12,
  ConsumerNotFound: 13,
  TooManyRequests: 14,
  TopicTerminatedError: 15,
  ProducerBusy: 16,
  InvalidTopicName: 17,
  IncompatibleSchema: 18,
  ConsumerAssignError: 19,
  NotAllowedError: 22,
  ProducerFenced: 25,
} as const;

const NAMES = new Map<number, string>(Object.entries(ServerError).map(([name, value]) => [value, name]));

export function serverErrorName(error: number): string {
  return NAMES.get(error) ?? `ServerError(${error})`;
}

/** How a broker error reads to walstream: fenced and missing topics have their own codes. */
function codeOf(error: number): { code: ErrorCode; retriable?: boolean } {
  switch (error) {
    case ServerError.ProducerFenced:
      return { code: 'CHANNEL_FENCED', retriable: false };
    case ServerError.TopicNotFound:
      return { code: 'CHANNEL_NOT_EXIST', retriable: false };
    case ServerError.TopicTerminatedError:
      return { code: 'CHANNEL_FENCED', retriable: false };
    case ServerError.InvalidTopicName:
    case ServerError.IncompatibleSchema:
    case ServerError.NotAllowedError:
    case ServerError.UnsupportedVersionError:
      return { code: 'INVALID_ARGUMENT' };
    case ServerError.AuthenticationError:
    case ServerError.AuthorizationError:
      return { code: 'UNAVAILABLE', retriable: false };
    default:
      // ServiceNotReady, TooManyRequests, PersistenceError, MetadataError, busy: a retry may pass.
      return { code: 'UNAVAILABLE', retriable: true };
  }
}

/** A coded error for a broker's ERROR / SEND_ERROR / failed LOOKUP answer. */
export function brokerError(error: number, message: string, context: string): WalError {
  const { code, retriable } = codeOf(error);
  return new WalError(code, `${context}: ${serverErrorName(error)}: ${message}`, {
    ...(retriable === undefined ? {} : { retriable }),
    details: { serverError: serverErrorName(error) },
  });
}

/** A frame or field the decoder cannot accept: the connection that carried it is dropped. */
export function malformed(why: string): WalError {
  return new WalError('UNAVAILABLE', `malformed Pulsar frame: ${why}`, {
    details: { reason: 'malformed-frame' },
  });
}

export function unavailable(message: string, cause?: unknown): WalError {
  return new WalError('UNAVAILABLE', message, cause === undefined ? {} : { cause });
}
