import type { Logger } from '@walstream/core';

/** One line a {@link recordingLogger} kept. */
export interface LogLine {
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** The line's fields, with the bindings of every `child()` on the way merged in. */
  readonly fields: Record<string, unknown>;
  readonly message: string | undefined;
}

/**
 * A pino-shaped logger that keeps every line in `lines`, for tests of what an adapter or interceptor
 * logs: pass it as `createWal({ logger })` and assert on the lines.
 */
export function recordingLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: LogLine['level']) =>
    (fields: object, message?: string): void => {
      lines.push({ level, fields: { ...bindings, ...fields }, message });
    };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}
