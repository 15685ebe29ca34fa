import { inject } from 'vitest';
import { type PulsarAdapterOptions, pulsarAdapter } from '../src/index.js';
import type { ProvidedPulsar } from './global-setup.js';

export function broker(): ProvidedPulsar {
  return inject('pulsar');
}

/** An adapter on the shared standalone; `extra` overrides options (timeouts in fault tests). */
export function adapter(extra: Partial<PulsarAdapterOptions> = {}) {
  const { serviceUrl, adminUrl } = broker();
  return pulsarAdapter({ serviceUrl, adminUrl, ...extra });
}

let counter = 0;
/** A topic-safe pchannel name unique to this run. */
export function uniqueName(label: string): string {
  return `${label}-${Date.now().toString(36)}-${(++counter).toString(36)}`;
}

/** The broker's last log lines, for failure messages. */
export async function brokerLog(lines = 60): Promise<string> {
  const response = await fetch(`${broker().controlUrl}/log?lines=${lines}`);
  return response.text();
}

export { waitFor } from '@walstream/testkit';
