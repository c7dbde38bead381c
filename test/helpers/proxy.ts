/**
 * A TCP proxy on 127.0.0.1 that can cut the link it carries, for network faults between
 * processes: `block()` destroys every connection through it and refuses new ones until
 * `unblock()`. And `reservePorts`, free ports held until released.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

export class FaultProxy {
  private readonly sockets = new Set<Socket>();
  private blocked = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** A proxy listening on `port` (0: any free port) that forwards to 127.0.0.1:targetPort. */
  static async start(targetPort: number, port = 0): Promise<FaultProxy> {
    const holder: { proxy?: FaultProxy } = {};
    const server = createServer((client) => {
      const p = holder.proxy;
      if (p === undefined || p.blocked) {
        client.destroy();
        return;
      }
      const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
      p.sockets.add(client);
      p.sockets.add(upstream);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        p.sockets.delete(client);
        p.sockets.delete(upstream);
      };
      for (const s of [client, upstream]) {
        s.on('error', end);
        s.on('close', end);
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    holder.proxy = new FaultProxy(server, address.port);
    return holder.proxy;
  }

  get isBlocked(): boolean {
    return this.blocked;
  }

  block(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  unblock(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.block();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** `count` free ports on 127.0.0.1, held (bound) until `release()`. */
export async function reservePorts(count: number): Promise<{ ports: number[]; release(): Promise<void> }> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address !== null && typeof address !== 'string') ports.push(address.port);
    servers.push(server);
  }
  return {
    ports,
    release: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
