/**
 * The logger walstream writes to: the subset of pino's interface it uses, so a pino logger (or any logger
 * with the same shape) can be passed as it is. Fields first, message second, as pino wants.
 */
export interface Logger {
  trace(fields: object, message?: string): void;
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
  /** A logger that adds `bindings` to every line (pino's `child`). */
  child(bindings: Record<string, unknown>): Logger;
}

const ignore = (): void => {};

/** The default: walstream is silent unless it is given a logger. */
export const silentLogger: Logger = Object.freeze({
  trace: ignore,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  child: () => silentLogger,
});
