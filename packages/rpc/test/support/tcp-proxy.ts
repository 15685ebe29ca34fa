import { createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder between a client and a server on loopback, to make a connection go away (`drop`) or go
 * silent without closing (`blackhole`) the way a dead peer or a cut network does.
 */
export interface TcpProxy {
  readonly address: string;
  /** Destroys every forwarded connection at once, as a crashed client or server would. */
  drop(): void;
  /** Stops forwarding bytes but keeps the sockets open: only keepalive can tell the peer is gone. */
  blackhole(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const cut = target.lastIndexOf(':');
  const host = target.slice(0, cut);
  const port = Number(target.slice(cut + 1));
  const sockets = new Set<Socket>();
  let silent = false;
  const server: Server = createServer((inbound) => {
    const outbound = new (inbound.constructor as typeof Socket)();
    outbound.connect(port, host);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    inbound.on('data', (chunk) => {
      if (!silent) outbound.write(chunk);
    });
    outbound.on('data', (chunk) => {
      if (!silent) inbound.write(chunk);
    });
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('proxy did not bind a TCP port');
  return {
    address: `127.0.0.1:${bound.port}`,
    drop: () => {
      for (const socket of sockets) socket.destroy();
    },
    blackhole: () => {
      silent = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
