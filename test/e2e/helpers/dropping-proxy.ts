/**
 * A TCP proxy in front of a broker that can lose answers: it forwards requests, and for
 * the Produce requests it is told to, it closes the client's connection instead of
 * forwarding the answer (the broker did the work; the client never hears). Clients retry
 * on a new connection, which is what idempotent producers exist for.
 */
import net from 'node:net';

export interface DroppingProxy {
  readonly port: number;
  /** Produce answers dropped so far. */
  readonly dropped: number;
  /** Drop the answers of the next n Produce requests. */
  dropNextProduceAnswers(n: number): void;
  setTarget(host: string, port: number): void;
  close(): Promise<void>;
}

export async function startDroppingProxy(): Promise<DroppingProxy> {
  let target: { host: string; port: number } | undefined;
  let toDrop = 0;
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect(target!);
    sockets.add(upstream);
    const doomed = new Set<number>(); // correlation ids whose answers are dropped
    let fromClient = Buffer.alloc(0);
    let fromBroker = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      while (fromClient.length >= 4 && fromClient.length >= 4 + fromClient.readInt32BE(0)) {
        const size = fromClient.readInt32BE(0);
        const frame = fromClient.subarray(0, 4 + size);
        fromClient = fromClient.subarray(4 + size);
        const apiKey = frame.readInt16BE(4);
        const acks = apiKey === 0 ? 1 : 0;
        if (apiKey === 0 && acks !== 0 && toDrop > 0) {
          toDrop--;
          doomed.add(frame.readInt32BE(8));
        }
        upstream.write(frame);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      fromBroker = Buffer.concat([fromBroker, chunk]);
      while (fromBroker.length >= 4 && fromBroker.length >= 4 + fromBroker.readInt32BE(0)) {
        const size = fromBroker.readInt32BE(0);
        const frame = fromBroker.subarray(0, 4 + size);
        fromBroker = fromBroker.subarray(4 + size);
        if (doomed.has(frame.readInt32BE(4))) {
          dropped++;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(frame);
      }
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get dropped() {
      return dropped;
    },
    dropNextProduceAnswers(n) {
      toDrop += n;
    },
    setTarget(host, p) {
      target = { host, port: p };
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
