/**
 * A fault-injecting TCP proxy for cluster tests: one per ordered pair of nodes (from -> to)
 * carries `from`'s inter-node traffic to `to`'s controller listener. `block()` cuts every
 * connection through it and refuses new ones (a network partition), `unblock()` heals it.
 * 127.0.0.1 only; `close()` ends everything.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

export class PairProxy {
  private readonly sockets = new Set<Socket>();
  private blocked = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<PairProxy> {
    let proxy: PairProxy | undefined;
    const server = createServer((client) => {
      if (proxy === undefined || proxy.blocked) {
        client.destroy();
        return;
      }
      const upstream = netConnect({ host: '127.0.0.1', port: targetPort });
      const p = proxy;
      p.sockets.add(client);
      p.sockets.add(upstream);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        p.sockets.delete(client);
        p.sockets.delete(upstream);
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    proxy = new PairProxy(server, address.port);
    return proxy;
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

/**
 * Ports on 127.0.0.1 held until release(): bind what else needs port 0 (the proxies)
 * before releasing them, so the OS cannot hand one of them out meanwhile.
 */
export async function reservePorts(count: number): Promise<{ ports: number[]; release(): Promise<void> }> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    if (address !== null && typeof address !== 'string') ports.push(address.port);
    servers.push(server);
  }
  return {
    ports,
    release: () =>
      Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => {}),
  };
}

/** Free ports on 127.0.0.1 (bound and released at once; prefer reservePorts when binding more meanwhile). */
export async function freePorts(count: number): Promise<number[]> {
  const { ports, release } = await reservePorts(count);
  await release();
  return ports;
}
