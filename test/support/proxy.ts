import net from 'node:net';

/**
 * A TCP proxy on a loopback port in front of a server (PostgreSQL, Redis), for outage tests: `cut()`
 * stops listening and destroys every live connection, as a failed server or network does, so that new
 * connections are refused; `restore()` listens on the same port again.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(target: string | URL): Promise<TcpProxy> {
    const url = typeof target === 'string' ? new URL(target) : target;
    const defaultPort = url.protocol.startsWith('redis') ? 6379 : 5432;
    const proxy = new TcpProxy(url.hostname || '127.0.0.1', Number(url.port || defaultPort));
    await proxy.restore();
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  through(target: string): string {
    const url = new URL(target);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  get up(): boolean {
    return this.server !== undefined;
  }

  /** Connections open through the proxy now (each pairs a client and a server socket). */
  get connections(): number {
    return this.sockets.size / 2;
  }

  async restore(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Refuses new connections and kills the open ones: half with a reset, half with a plain close. */
  async cut(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    let i = 0;
    for (const socket of this.sockets) {
      if (i++ % 2 === 0 && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
    }
    this.sockets.clear();
    await closed;
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
