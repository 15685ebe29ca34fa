import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { Metadata, type ServiceError, status as Status, type StatusObject } from '@grpc/grpc-js';
import { type ErrorCode, WalError } from '@walstream/core';
import { fromWireError, toWireError } from '../convert/errors.js';
import { StreamingErrorSchema } from '../gen/walstream/v1/common_pb.js';

/** The trailer that carries a failed call's StreamingError (protobuf binary). */
export const ERROR_TRAILER = 'walstream-error-bin';

/**
 * The gRPC status code a walstream code travels under. Our clients read the trailer and ignore it; it is
 * for gRPC tools and other languages, so it follows the gRPC meaning of each code.
 */
function grpcCodeOf(code: ErrorCode): Status {
  switch (code) {
    case 'INVALID_ARGUMENT':
    case 'INVALID_MESSAGE_ID':
    case 'INVALID_REQUEST_SEQ':
      return Status.INVALID_ARGUMENT;
    case 'UNAUTHENTICATED':
      return Status.UNAUTHENTICATED;
    case 'CHANNEL_NOT_EXIST':
    case 'VCHANNEL_NOT_FOUND':
    case 'NOT_REGISTERED':
      return Status.NOT_FOUND;
    case 'ALREADY_REGISTERED':
      return Status.ALREADY_EXISTS;
    case 'CHANNEL_FENCED':
    case 'UNMATCHED_CHANNEL_TERM':
    case 'IGNORED_OPERATION':
    case 'READ_ONLY':
    case 'VCHANNEL_DROPPED':
    case 'TRANSACTION_EXPIRED':
    case 'INVALID_TRANSACTION_STATE':
    case 'REPLICATE_VIOLATION':
      return Status.FAILED_PRECONDITION;
    case 'RESOURCE_ACQUIRED':
      return Status.ABORTED;
    case 'RATE_LIMIT_REJECTED':
    case 'CAPACITY_EXCEEDED':
      return Status.RESOURCE_EXHAUSTED;
    case 'UNAVAILABLE':
    case 'ON_SHUTDOWN':
    case 'CLOSED':
      return Status.UNAVAILABLE;
    case 'TIMEOUT':
      return Status.DEADLINE_EXCEEDED;
    case 'ABORTED':
      return Status.CANCELLED;
    case 'INNER':
    case 'UNRECOVERABLE':
      return Status.INTERNAL;
    case 'UNKNOWN':
      return Status.UNKNOWN;
  }
}

/** The status a failed handler ends its call with: the gRPC code, a readable text, and the trailer. */
export function statusOfError(error: unknown): Partial<StatusObject> & { code: Status } {
  const wire = toWireError(error);
  const metadata = new Metadata();
  metadata.set(ERROR_TRAILER, Buffer.from(toBinary(StreamingErrorSchema, wire)));
  const code = WalError.is(error) ? grpcCodeOf(error.code) : Status.UNKNOWN;
  return { code, details: `${wire.code}: ${wire.message}`, metadata };
}

function statusName(code: number): string {
  return Status[code] ?? String(code);
}

/**
 * The WalError a failed call stands for. A walstream server's trailer gives it exactly; without one (the
 * failure came from the transport, or from a server that is not walstream) the gRPC code decides:
 * unreachable or dropped → UNAVAILABLE (retriable), deadline → TIMEOUT, cancelled here (`localCancel`)
 * → ABORTED, cancelled by the other side → UNAVAILABLE, a message over the size limit →
 * INVALID_ARGUMENT, a method the server does not serve → NOT_REGISTERED.
 */
export function errorOfStatus(
  error: ServiceError,
  method: string,
  localCancel?: { readonly reason: unknown },
): WalError {
  const trailer = error.metadata?.get(ERROR_TRAILER)[0];
  if (trailer instanceof Buffer) {
    try {
      return fromWireError(fromBinary(StreamingErrorSchema, trailer));
    } catch {
      // A trailer that does not decode is treated as absent: the status code still says what happened.
    }
  }
  const details = { method, grpcStatus: statusName(error.code) };
  const text = `${method}: ${error.details || statusName(error.code)}`;
  switch (error.code) {
    case Status.UNAVAILABLE:
      return new WalError('UNAVAILABLE', text, { details, cause: error });
    case Status.DEADLINE_EXCEEDED:
      return new WalError('TIMEOUT', text, { details, cause: error });
    case Status.CANCELLED:
      if (localCancel === undefined) return new WalError('UNAVAILABLE', text, { details, cause: error });
      return new WalError('ABORTED', `${method}: the call was cancelled`, {
        details,
        cause: localCancel.reason ?? error,
        retriable: false,
      });
    case Status.RESOURCE_EXHAUSTED:
      return new WalError('INVALID_ARGUMENT', text, { details, cause: error, retriable: false });
    case Status.UNIMPLEMENTED:
      return new WalError('NOT_REGISTERED', text, { details, cause: error, retriable: false });
    case Status.UNAUTHENTICATED:
      return new WalError('UNAUTHENTICATED', text, { details, cause: error, retriable: false });
    default:
      return new WalError('UNKNOWN', text, { details, cause: error, retriable: false });
  }
}
