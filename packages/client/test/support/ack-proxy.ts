import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * A TCP proxy in front of a node, to lose acknowledgements the way a network does: while it holds, the
 * bytes the node sends are dropped (the append lands, its answer never arrives), and `cut` then breaks
 * every connection, as a failed link or a dead peer would. New connections pass again afterwards.
 */
export class AckProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #holding = false;
  #holdingRequests = false;
  /** Bytes from the node dropped while holding. */
  dropped = 0;
  /** Bytes to the node dropped while holding requests. */
  droppedRequests = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: string): Promise<AckProxy> {
    const [host, port] = splitAddress(target);
    let proxy: AckProxy | undefined;
    const server = createServer((client) => {
      const upstream = tcpConnect({ host, port });
      const sockets = [client, upstream];
      for (const socket of sockets) {
        proxy!.#sockets.add(socket);
        socket.on('close', () => proxy!.#sockets.delete(socket));
        socket.on('error', () => {
          for (const other of sockets) other.destroy();
        });
      }
      client.on('data', (chunk) => {
        if (proxy!.#holdingRequests) proxy!.droppedRequests += chunk.length;
        else upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (proxy!.#holding) proxy!.dropped += chunk.length;
        else client.write(chunk);
      });
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
    });
    proxy = new AckProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get address(): string {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy is not listening');
    return `127.0.0.1:${address.port}`;
  }

  /** From now on the node's bytes are dropped: whatever it answers is lost. */
  hold(): void {
    this.#holding = true;
  }

  /** From now on the bytes to the node are dropped: whatever is sent never arrives. */
  holdRequests(): void {
    this.#holdingRequests = true;
  }

  /** Breaks every connection through the proxy and stops holding. */
  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    this.#holding = false;
    this.#holdingRequests = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}
