/**
 * Test helpers for the network layer: a manual clock, and a tiny Kafka-framing client over
 * a real socket that collects size-prefixed answers.
 */
import net from 'node:net';
import { FrameDecoder } from '../../../src/broker/network/frame-decoder.ts';

export { ManualClock } from '../../helpers/manual-clock.ts';

/** Size-prefixes a body. */
export function frame(body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

export interface TestClient {
  socket: net.Socket;
  /** Answers received so far (bodies, without size prefix). */
  responses: Buffer[];
  /** Resolves once n answers have arrived (rejects if the socket closes first or after timeoutMs). */
  waitForResponses(n: number, timeoutMs?: number): Promise<Buffer[]>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  write(bytes: Buffer): Promise<void>;
  destroy(): void;
}

export async function connect(port: number): Promise<TestClient> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const decoder = new FrameDecoder(2 ** 31 - 1);
  const responses: Buffer[] = [];
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    for (let next = decoder.next(); next !== null; next = decoder.next()) {
      if ('bad' in next) throw new Error('bad response frame');
      responses.push(Buffer.from(next.frame));
    }
    wake();
  });
  const closedPromise = new Promise<void>((resolve) => {
    socket.on('close', () => {
      closed = true;
      wake();
      resolve();
    });
  });
  return {
    socket,
    responses,
    closed: closedPromise,
    isClosed: () => closed,
    waitForResponses(n, timeoutMs = 10_000) {
      return new Promise<Buffer[]>((resolve, reject) => {
        const check = (): void => {
          if (responses.length >= n) {
            cleanup();
            resolve(responses.slice(0, n));
          } else if (closed) {
            cleanup();
            reject(new Error(`connection closed after ${responses.length} of ${n} answers`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out with ${responses.length} of ${n} answers`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    write(bytes) {
      return new Promise<void>((resolve, reject) => socket.write(bytes, (err) => (err ? reject(err) : resolve())));
    },
    destroy() {
      socket.destroy();
    },
  };
}

/** Resolves when cond() holds, checking after every macrotask turn; rejects after timeoutMs. */
export async function waitUntil(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A promise with its resolve exposed. */
export function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
