import { create } from '@bufbuild/protobuf';
import { type ErrorCode, WalError } from '@walstream/core';
import {
  type ErrorDetail,
  ErrorDetailSchema,
  type StreamingError,
  StreamingErrorSchema,
} from '../gen/walstream/v1/common_pb.js';

/**
 * Every code core defines. A Record over ErrorCode, so adding a code to core without adding it here fails
 * the typecheck instead of turning that code into UNKNOWN on the wire.
 */
const KNOWN_CODES: Record<ErrorCode, true> = {
  CHANNEL_NOT_EXIST: true,
  CHANNEL_FENCED: true,
  ON_SHUTDOWN: true,
  INVALID_REQUEST_SEQ: true,
  UNMATCHED_CHANNEL_TERM: true,
  IGNORED_OPERATION: true,
  INNER: true,
  INVALID_ARGUMENT: true,
  TRANSACTION_EXPIRED: true,
  INVALID_TRANSACTION_STATE: true,
  UNRECOVERABLE: true,
  RESOURCE_ACQUIRED: true,
  REPLICATE_VIOLATION: true,
  UNKNOWN: true,
  READ_ONLY: true,
  CLOSED: true,
  INVALID_MESSAGE_ID: true,
  NOT_REGISTERED: true,
  ALREADY_REGISTERED: true,
  CAPACITY_EXCEEDED: true,
  ABORTED: true,
  UNAVAILABLE: true,
  TIMEOUT: true,
  VCHANNEL_NOT_FOUND: true,
  VCHANNEL_DROPPED: true,
  UNAUTHENTICATED: true,
  RATE_LIMIT_REJECTED: true,
};

export function isKnownErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(KNOWN_CODES, code);
}

type DetailValue = string | number | bigint | boolean;

function toWireDetail(value: DetailValue): ErrorDetail {
  switch (typeof value) {
    case 'string':
      return create(ErrorDetailSchema, { value: { case: 'stringValue', value } });
    case 'bigint':
      return create(ErrorDetailSchema, { value: { case: 'intValue', value } });
    case 'number':
      return create(ErrorDetailSchema, { value: { case: 'numberValue', value } });
    default:
      return create(ErrorDetailSchema, { value: { case: 'boolValue', value } });
  }
}

function describeCause(cause: unknown): string {
  if (cause === undefined) return '';
  if (WalError.is(cause)) return `${cause.code}: ${cause.message}`;
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

/**
 * The wire form of anything a handler threw. A WalError keeps its code, retriable flag, message and
 * details (bigints stay exact); anything else becomes UNKNOWN (not retriable) with its message, since the
 * server cannot vouch that a retry would help.
 */
export function toWireError(error: unknown): StreamingError {
  if (WalError.is(error)) {
    // fromEntries, not assignment: a detail named "__proto__" must stay a detail.
    const details = Object.fromEntries(
      Object.entries(error.details).map(([key, value]) => [key, toWireDetail(value)]),
    );
    return create(StreamingErrorSchema, {
      code: error.code,
      retriable: error.retriable,
      message: error.message,
      details,
      cause: describeCause(error.cause),
    });
  }
  return create(StreamingErrorSchema, {
    code: 'UNKNOWN',
    retriable: false,
    message: error instanceof Error ? error.message : String(error),
    cause: error instanceof Error ? describeCause(error.cause) : '',
  });
}

/**
 * The WalError a StreamingError describes: same code, retriable, message and details. A code this version
 * does not know (a newer peer's) becomes UNKNOWN, keeping the original in `details.remoteCode`; the remote
 * cause, when there was one, is an Error carrying its text.
 */
export function fromWireError(error: StreamingError): WalError {
  const entries: [string, DetailValue][] = [];
  for (const [key, detail] of Object.entries(error.details)) {
    if (detail.value.case !== undefined) entries.push([key, detail.value.value]);
  }
  let code: ErrorCode;
  if (isKnownErrorCode(error.code)) code = error.code;
  else {
    code = 'UNKNOWN';
    entries.push(['remoteCode', error.code]);
  }
  // fromEntries, not assignment: a detail named "__proto__" must stay a detail.
  const details: Record<string, DetailValue> = Object.fromEntries(entries);
  return new WalError(code, error.message, {
    retriable: error.retriable,
    details,
    ...(error.cause === '' ? {} : { cause: new Error(error.cause) }),
  });
}
