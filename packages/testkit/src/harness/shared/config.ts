export type PropertyValue = string | number | boolean;

/** `key=value` lines in insertion order, so later entries (caller overrides) win when Java reads them. */
export function propertiesText(entries: Readonly<Record<string, PropertyValue>>): string {
  return `${Object.entries(entries)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join('\n')}\n`;
}

/**
 * A log4j2 configuration that writes to the console, which the harness records: WARN and up, plus INFO
 * for the named loggers (the lines that explain a failed test).
 */
export function consoleLog4j2(pattern: string, infoLoggers: readonly string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="OUT" target="SYSTEM_OUT"><PatternLayout pattern="${pattern}"/></Console></Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="OUT"/></Root>
${infoLoggers.map((name) => `    <Logger name="${name}" level="INFO"/>`).join('\n')}
  </Loggers>
</Configuration>
`;
}
