import { type ErrorCode, isRetriableByDefault } from './codes.js';

/** Survives duplicate copies of this package in one process, where `instanceof` would not. */
const kWalError = Symbol.for('walstream.error');

export interface WalErrorOptions {
  /** Overrides the code's default (see {@link isRetriableByDefault}). */
  retriable?: boolean;
  cause?: unknown;
  /** Structured context for logs (channel, term, limit, ...). Never payloads. */
  details?: Readonly<Record<string, string | number | bigint | boolean>>;
}

/** What {@link WalError.toJSON} returns. */
export interface WalErrorJson {
  readonly name: 'WalError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly message: string;
  readonly details: Readonly<Record<string, string | number | boolean>>;
  readonly cause?: WalErrorJson | string;
}

/**
 * The one error type walstream throws. Check it by `code` (see {@link hasCode}), never with `instanceof`.
 */
export class WalError extends Error {
  override readonly name = 'WalError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Readonly<Record<string, string | number | bigint | boolean>>;
  readonly [kWalError] = true;

  constructor(code: ErrorCode, message: string, options: WalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? isRetriableByDefault(code);
    this.details = options.details ?? {};
  }

  /**
   * A plain, JSON-safe form for logs and the wire: bigint details become decimal strings, the cause is
   * reduced to its message (or its own JSON form when it is a WalError).
   */
  toJSON(): WalErrorJson {
    const details: Record<string, string | number | boolean> = {};
    for (const [key, value] of Object.entries(this.details)) {
      details[key] = typeof value === 'bigint' ? value.toString() : value;
    }
    const json: WalErrorJson = {
      name: this.name,
      code: this.code,
      retriable: this.retriable,
      message: this.message,
      details,
    };
    const cause = this.cause;
    if (cause === undefined) return json;
    return {
      ...json,
      cause: WalError.is(cause) ? cause.toJSON() : cause instanceof Error ? cause.message : String(cause),
    };
  }

  static is(error: unknown): error is WalError {
    return (
      typeof error === 'object' && error !== null && (error as { [kWalError]?: unknown })[kWalError] === true
    );
  }
}

export function walError(code: ErrorCode, message: string, options?: WalErrorOptions): WalError {
  return new WalError(code, message, options);
}

/** True when `error` is a walstream error with one of `codes`. */
export function hasCode(error: unknown, ...codes: ErrorCode[]): error is WalError {
  return WalError.is(error) && codes.includes(error.code);
}

/** Wraps anything thrown by a backend into a coded error, keeping coded errors as they are. */
export function toWalError(error: unknown, fallback: ErrorCode = 'UNKNOWN', context = ''): WalError {
  if (WalError.is(error)) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new WalError(fallback, context ? `${context}: ${text}` : text, { cause: error });
}

/** The error an aborted operation rejects with; keeps the signal's reason as the cause. */
export function abortError(signal: AbortSignal | undefined, what = 'operation'): WalError {
  return new WalError('ABORTED', `${what} was aborted`, { cause: signal?.reason, retriable: false });
}

/** What a failed append left in the store, as far as the adapter knows. */
export type AppendOutcome = 'not-written' | 'written' | 'unknown';

/**
 * Reads what a failed append left behind from `details.written`, which adapters set on append failures:
 * `false` when nothing was written (the append may be abandoned or retried freely), `true` when it was
 * written and only the acknowledgement was lost. Absent means unknown — the usual case of a connection
 * that dropped with the append in flight. A non-walstream error is unknown too. `'unknown'` says it
 * explicitly: the runtime's give-up on close of an append that may have landed carries it.
 */
export function appendOutcome(error: unknown): AppendOutcome {
  if (!WalError.is(error)) return 'unknown';
  const written = error.details.written;
  return written === false ? 'not-written' : written === true ? 'written' : 'unknown';
}
