async function getText(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    return await response.text();
  } catch {
    return undefined;
  }
}

/**
 * True when the standalone serves for real: the broker health check produces and consumes a message on
 * a heartbeat topic through the bookie, and `public/default` exists (the starter creates it only after
 * the broker is up, and our topics live there). A log line could be printed by a broker that then fails.
 */
export async function probePulsar(adminUrl: string, timeoutMs = 5_000): Promise<boolean> {
  const health = await getText(`${adminUrl}/admin/v2/brokers/health`, timeoutMs);
  if (health?.trim() !== 'ok') return false;
  const namespaces = await getText(`${adminUrl}/admin/v2/namespaces/public`, timeoutMs);
  return namespaces?.includes('"public/default"') ?? false;
}
