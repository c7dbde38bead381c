/**
 * Pooled fetch read buffers: the pool itself, and the listener's onWritten hook that
 * decides when a response's buffers may be reused (never before the kernel has the bytes).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { ReadBufferPool } from '../../../src/broker/fetch/read-buffers.ts';
import { type GatheredResponse, type Listener, startListener } from '../../../src/broker/network/listener.ts';
import { systemClock } from '../../../src/env/clock.ts';
import { frame } from '../network/helpers.ts';

const KiB = 1024;
const MiB = 1024 * 1024;

void describe('ReadBufferPool', () => {
  void it('hands out class-sized buffers (a power of two plus 64 KiB) and reuses what is given back', () => {
    const pool = new ReadBufferPool(64 * MiB);
    const a = pool.acquire(1);
    assert.equal(a.length, 128 * KiB);
    const b = pool.acquire(MiB + 64 * KiB); // the log's read of a 1 MiB limit fits exactly
    assert.equal(b.length, MiB + 64 * KiB);
    const c = pool.acquire(MiB + 64 * KiB + 1);
    assert.equal(c.length, 2 * MiB + 64 * KiB);
    pool.release(b);
    assert.equal(pool.stats().retainedBytes, MiB + 64 * KiB);
    assert.equal(pool.acquire(MiB), b, 'the free buffer of the class is reused');
    assert.deepEqual(pool.stats(), { reused: 1, allocated: 3, retainedBytes: 0 });
  });

  void it('gives larger requests a plain buffer and ignores buffers it did not hand out', () => {
    const pool = new ReadBufferPool(64 * MiB);
    const big = pool.acquire(17 * MiB);
    assert.equal(big.length, 17 * MiB);
    pool.release(big);
    pool.release(Buffer.alloc(MiB + 64 * KiB).subarray(1)); // a view: not a whole class buffer
    pool.release(Buffer.alloc(100)); // a slice of Node's shared pool
    const view = pool.acquire(1).subarray(0, 10);
    pool.release(view);
    assert.equal(pool.stats().retainedBytes, 0);
  });

  void it('keeps at most maxRetainedBytes of free buffers', () => {
    const pool = new ReadBufferPool(3 * MiB);
    const held = [pool.acquire(MiB), pool.acquire(MiB), pool.acquire(MiB)];
    for (const b of held) pool.release(b);
    assert.equal(pool.stats().retainedBytes, 2 * (MiB + 64 * KiB));
  });

  void it('a lease gives back every buffer it took, once', () => {
    const pool = new ReadBufferPool(64 * MiB);
    const lease = pool.lease();
    const x = lease.allocate(10 * KiB);
    const y = lease.allocate(200 * KiB);
    lease.release();
    lease.release();
    assert.equal(pool.stats().retainedBytes, x.length + y.length);
  });
});

void describe('listener: onWritten of gathered responses', () => {
  const listeners: Listener[] = [];
  const sockets: net.Socket[] = [];
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(listeners.map((l) => l.close()));
  });

  async function listen(answer: () => GatheredResponse): Promise<Listener> {
    const listener = await startListener({
      host: '127.0.0.1',
      port: 0,
      maxRequestBytes: MiB,
      maxInFlightPerConnection: 10,
      idleTimeoutMs: 600_000,
      clock: systemClock,
      closeTimeoutMs: 2000,
      onFrame: () => answer(),
    });
    listeners.push(listener);
    return listener;
  }

  async function connect(port: number): Promise<net.Socket> {
    const socket = net.connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return socket;
  }

  /** Reads one size-prefixed answer of `size` bytes (bounded wait). */
  function readAnswer(socket: net.Socket, size: number, timeoutMs = 30_000): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let got = 0;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got} of ${4 + size} bytes`)), timeoutMs);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= 4 + size) {
          clearTimeout(timer);
          const all = Buffer.concat(chunks);
          assert.equal(all.readInt32BE(0), size);
          resolve(all.subarray(4, 4 + size));
        }
      });
      socket.resume();
    });
  }

  void it('runs only after the kernel has the bytes: overwriting the buffers then does not reach the client', async () => {
    // 64 MiB is more than the socket buffers hold while the client does not read, so most
    // of it waits in the server's process: reusing the buffers early would corrupt it.
    const parts = [Buffer.alloc(32 * MiB, 0x11), Buffer.alloc(0), Buffer.alloc(32 * MiB, 0x22)];
    let written = 0;
    const listener = await listen(() =>
      Object.assign([...parts], {
        onWritten: () => {
          written++;
          for (const p of parts) p.fill(0xee);
        },
      }),
    );
    const socket = await connect(listener.port);
    socket.pause();
    socket.write(frame('fetch'));
    const body = await readAnswer(socket, 64 * MiB);
    assert.equal(written, 1);
    assert.equal(body.indexOf(0xee), -1, 'no byte was overwritten before it was sent');
    assert.equal(body[0], 0x11);
    assert.equal(body[body.length - 1], 0x22);
  });

  void it('runs at once for a small answer (copied into one buffer)', async () => {
    const part = Buffer.from('small');
    let written = 0;
    const listener = await listen(() =>
      Object.assign([part], {
        onWritten: () => {
          written++;
          part.fill(0);
        },
      }),
    );
    const socket = await connect(listener.port);
    socket.write(frame('fetch'));
    const body = await readAnswer(socket, 5);
    assert.equal(body.toString(), 'small');
    assert.equal(written, 1);
  });
});
