import { Socket } from 'node:net';

/**
 * Sends one ApiVersions v0 request and resolves true when the broker answers without error. A Kafka
 * broker only serves its data-plane listener once startup completed, so this is the readiness probe:
 * a log line could be printed by a broker that then fails to bind or register.
 */
export function probeApiVersions(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const size = received.readInt32BE(0);
      if (received.length < 4 + size) return;
      // Response v0: correlation id (int32) then error code (int16).
      finish(size >= 6 && received.readInt32BE(4) === 7 && received.readInt16BE(8) === 0);
    });
    socket.connect(port, host, () => {
      const clientId = Buffer.from('walstream-harness');
      const header = Buffer.alloc(2 + 2 + 4 + 2);
      header.writeInt16BE(18, 0); // ApiVersions
      header.writeInt16BE(0, 2); // v0: every broker since 0.10 answers it
      header.writeInt32BE(7, 4); // correlation id
      header.writeInt16BE(clientId.length, 8);
      const body = Buffer.concat([header, clientId]);
      const size = Buffer.alloc(4);
      size.writeInt32BE(body.length, 0);
      socket.write(Buffer.concat([size, body]));
    });
  });
}
