import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startPulsar } from '@walstream/testkit/pulsar';
import type { TestProject } from 'vitest/node';

/** What the tests get from `inject('pulsar')`. */
export interface ProvidedPulsar {
  readonly serviceUrl: string;
  readonly adminUrl: string;
  readonly version: string;
  /** The shared broker's log for failure messages: `GET /log?lines=80`. */
  readonly controlUrl: string;
  /** The broker's classpath and java, to run Java helpers (Pulsar's own client) next to it. */
  readonly classpath: string;
  readonly java: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pulsar: ProvidedPulsar;
  }
}

/**
 * Starts one real Pulsar standalone for the whole test run (resolving its jars with Maven on a fresh
 * machine) and stops it afterwards. Test files run in workers that cannot reach this process's objects,
 * so the broker's log is served to them by a small loopback control server.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pulsar = await startPulsar();
  const control: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const reply = (status: number, body: string) => {
      response.writeHead(status, { 'content-type': 'text/plain' });
      response.end(body);
    };
    if (url.pathname === '/log') {
      reply(200, pulsar.logTail(Number(url.searchParams.get('lines') ?? 80)));
    } else {
      reply(404, 'unknown');
    }
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const { port } = control.address() as AddressInfo;
  project.provide('pulsar', {
    serviceUrl: pulsar.serviceUrl,
    adminUrl: pulsar.adminUrl,
    version: pulsar.version,
    controlUrl: `http://127.0.0.1:${port}`,
    classpath: pulsar.classpath,
    java: pulsar.java,
  });
  return async () => {
    // Idle keep-alive sockets from the workers' fetch would hold close() open.
    control.closeAllConnections();
    await new Promise<void>((resolve) => control.close(() => resolve()));
    // The data is thrown away: no need for a clean (slower) shutdown.
    await pulsar.stop({ hard: true });
  };
}
