/**
 * The TCP listener over real sockets on 127.0.0.1 (port 0). No test sleeps to wait for
 * something: they wait for an event or a condition, with a bound.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Connection, FrameResponse, Listener, ListenerOptions } from '../../../src/broker/network/listener.ts';
import { startListener } from '../../../src/broker/network/listener.ts';
import { systemClock } from '../../../src/env/clock.ts';
import { seededRandom } from '../../../src/env/random.ts';
import { connect, deferred, frame, ManualClock, type TestClient, waitUntil } from './helpers.ts';

const open: Listener[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(open.splice(0).map((l) => l.close()));
});

async function listen(overrides: Partial<ListenerOptions> & Pick<ListenerOptions, 'onFrame'>): Promise<Listener> {
  const listener = await startListener({
    host: '127.0.0.1',
    port: 0,
    maxRequestBytes: 1024 * 1024,
    maxInFlightPerConnection: 100,
    idleTimeoutMs: 600_000,
    clock: systemClock,
    closeTimeoutMs: 2000,
    ...overrides,
  });
  open.push(listener);
  return listener;
}

async function client(port: number): Promise<TestClient> {
  const c = await connect(port);
  clients.push(c);
  return c;
}

const echo = (_conn: Connection, f: Buffer): FrameResponse => Buffer.from(f);

void describe('listener: framing', () => {
  void it('answers frames split at every byte boundary', async () => {
    const listener = await listen({ onFrame: echo });
    const bodies = ['one', '', 'three-three', 'four'];
    const stream = Buffer.concat(bodies.map((b) => frame(b)));
    for (let cut = 1; cut < stream.length; cut++) {
      const c = await client(listener.port);
      await c.write(stream.subarray(0, cut));
      await new Promise((resolve) => setImmediate(resolve));
      await c.write(stream.subarray(cut));
      const got = await c.waitForResponses(bodies.length);
      assert.deepEqual(
        got.map((b) => b.toString()),
        bodies,
        `cut at ${cut}`,
      );
      c.destroy();
    }
  });

  void it('answers a byte-at-a-time client', async () => {
    const listener = await listen({ onFrame: echo });
    const c = await client(listener.port);
    const stream = Buffer.concat([frame('abc'), frame('defgh')]);
    for (let i = 0; i < stream.length; i++) await c.write(stream.subarray(i, i + 1));
    const got = await c.waitForResponses(2);
    assert.deepEqual(
      got.map((b) => b.toString()),
      ['abc', 'defgh'],
    );
  });

  void it('answers many frames sent in one write, in order', async () => {
    const listener = await listen({ onFrame: echo, maxInFlightPerConnection: 5 });
    const c = await client(listener.port);
    const n = 2000;
    await c.write(Buffer.concat(Array.from({ length: n }, (_, i) => frame(`req-${i}`))));
    const got = await c.waitForResponses(n);
    for (const [i, b] of got.entries()) assert.equal(b.toString(), `req-${i}`);
  });

  void it('writes multi-part answers back to back with one size prefix, small and large', async () => {
    const large = [Buffer.alloc(5000, 1), Buffer.alloc(0), Buffer.alloc(3000, 2)];
    const listener = await listen({
      onFrame: (_conn, f) =>
        f.toString() === 'large' ? large : [Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cde')],
    });
    const c = await client(listener.port);
    await c.write(Buffer.concat([frame('small'), frame('large'), frame('small')]));
    const [small, big, small2] = await c.waitForResponses(3);
    assert.equal(small!.toString(), 'abcde');
    assert.ok(big!.equals(Buffer.concat(large)));
    assert.equal(small2!.toString(), 'abcde');
  });
});

void describe('listener: pipelining', () => {
  void it('writes answers in request order when handlers finish out of order', async () => {
    const pending: Array<{ body: string; done: ReturnType<typeof deferred<FrameResponse>> }> = [];
    const listener = await listen({
      onFrame: (_conn, f) => {
        const done = deferred<FrameResponse>();
        pending.push({ body: f.toString(), done });
        return done.promise;
      },
    });
    const c = await client(listener.port);
    await c.write(Buffer.concat(['a', 'b', 'c', 'd', 'e'].map((s) => frame(s))));
    await waitUntil(() => pending.length === 5, 5000, 'all five requests dispatched concurrently');
    // Finish in reverse order: nothing may be written until 'a' is done.
    for (const p of [...pending].reverse().slice(0, 4)) p.done.resolve(Buffer.from(p.body.toUpperCase()));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(c.responses.length, 0, 'answers must wait for the first request');
    pending[0]!.done.resolve(Buffer.from('A'));
    const got = await c.waitForResponses(5);
    assert.deepEqual(
      got.map((b) => b.toString()),
      ['A', 'B', 'C', 'D', 'E'],
    );
  });

  void it('null answers write nothing and do not block later answers', async () => {
    const gates = new Map<string, ReturnType<typeof deferred<FrameResponse>>>();
    const listener = await listen({
      onFrame: (_conn, f) => {
        const body = f.toString();
        if (body.startsWith('noack')) {
          const gate = deferred<FrameResponse>();
          gates.set(body, gate);
          return gate.promise;
        }
        return Buffer.from(`ok:${body}`);
      },
    });
    const c = await client(listener.port);
    await c.write(Buffer.concat(['noack-1', 'x', 'noack-2', 'y'].map((s) => frame(s))));
    await waitUntil(() => gates.size === 2, 5000, 'both acks=0 requests dispatched');
    gates.get('noack-2')!.resolve(null);
    gates.get('noack-1')!.resolve(null);
    const got = await c.waitForResponses(2);
    assert.deepEqual(
      got.map((b) => b.toString()),
      ['ok:x', 'ok:y'],
    );
    // Synchronous null answers too.
    const listener2 = await listen({ onFrame: (_conn, f) => (f.toString() === 'n' ? null : Buffer.from(f)) });
    const c2 = await client(listener2.port);
    await c2.write(Buffer.concat(['n', 'n', '1', 'n', '2'].map((s) => frame(s))));
    assert.deepEqual(
      (await c2.waitForResponses(2)).map((b) => b.toString()),
      ['1', '2'],
    );
  });

  void it('stops reading at maxInFlightPerConnection and resumes when a request completes', async () => {
    const pending: Array<ReturnType<typeof deferred<FrameResponse>>> = [];
    const seen: string[] = [];
    const listener = await listen({
      maxInFlightPerConnection: 2,
      onFrame: (_conn, f) => {
        seen.push(f.toString());
        const d = deferred<FrameResponse>();
        pending.push(d);
        return d.promise;
      },
    });
    const c = await client(listener.port);
    await c.write(Buffer.concat(['0', '1', '2', '3', '4'].map((s) => frame(s))));
    await waitUntil(() => seen.length === 2, 5000, 'two requests dispatched');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(seen, ['0', '1'], 'no third request while two are in flight');
    assert.equal(listener.stats().requestsInFlight, 2);
    pending[0]!.resolve(Buffer.from('r0'));
    await waitUntil(() => seen.length === 3, 5000, 'third request after one completes');
    assert.deepEqual(seen, ['0', '1', '2']);
    for (let i = 1; i < 5; i++) {
      await waitUntil(() => pending.length > i, 5000, `request ${i} dispatched`);
      pending[i]!.resolve(Buffer.from(`r${i}`));
    }
    const got = await c.waitForResponses(5);
    assert.deepEqual(
      got.map((b) => b.toString()),
      ['r0', 'r1', 'r2', 'r3', 'r4'],
    );
  });

  void it('stops reading while the socket write buffer is full (client not reading)', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 1);
    let calls = 0;
    const listener = await listen({
      onFrame: () => {
        calls++;
        return big;
      },
    });
    const c = await client(listener.port);
    c.socket.pause();
    await c.write(Buffer.concat([frame('a'), frame('b'), frame('c')]));
    await waitUntil(() => calls >= 1, 5000, 'first request handled');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls, 1, 'no more requests handled while the answer cannot be written');
    c.socket.resume();
    const got = await c.waitForResponses(3, 20_000);
    assert.equal(calls, 3);
    assert.ok(got.every((b) => b.length === big.length));
  });
});

void describe('listener: random pipelining (seeded)', () => {
  void it('keeps request order under random chunking, delays, null answers and in-flight bounds', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = seededRandom(seed);
      const maxInFlight = 1 + random.int(6);
      let inFlight = 0;
      let peak = 0;
      const listener = await listen({
        maxInFlightPerConnection: maxInFlight,
        onFrame: (_conn, f) => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          const body = f.toString();
          const answer: FrameResponse = body.endsWith('!') ? null : Buffer.from(`re:${body}`);
          const mode = random.int(3);
          if (mode === 0) {
            inFlight--;
            return answer;
          }
          return new Promise<FrameResponse>((resolve) => {
            const done = (): void => {
              inFlight--;
              resolve(answer);
            };
            if (mode === 1) queueMicrotask(done);
            else setTimeout(done, random.int(3));
          });
        },
      });
      const c = await client(listener.port);
      const bodies = Array.from({ length: 200 }, (_, i) => `${i}${random.next() < 0.2 ? '!' : ''}`);
      const stream = Buffer.concat(bodies.map((b) => frame(b)));
      for (let at = 0; at < stream.length; ) {
        const n = 1 + random.int(64);
        await c.write(stream.subarray(at, at + n));
        at += n;
      }
      const expected = bodies.filter((b) => !b.endsWith('!')).map((b) => `re:${b}`);
      const got = await c.waitForResponses(expected.length);
      assert.deepEqual(
        got.map((b) => b.toString()),
        expected,
        `seed ${seed}`,
      );
      assert.ok(peak <= maxInFlight, `seed ${seed}: ${peak} in flight > ${maxInFlight}`);
      c.destroy();
    }
  });
});

void describe('listener: bad input', () => {
  void it('closes only the connection that sends an oversize frame, before reading its body', async () => {
    const bad: string[] = [];
    const listener = await listen({ maxRequestBytes: 100, onFrame: echo, onBadFrame: (_c, b) => bad.push(b.kind) });
    const good = await client(listener.port);
    const evil = await client(listener.port);
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(1_000_000_000);
    await evil.write(prefix);
    await evil.closed;
    assert.deepEqual(bad, ['too-large']);
    await good.write(Buffer.concat([frame(Buffer.alloc(100, 1)), frame('still here')]));
    const got = await good.waitForResponses(2);
    assert.equal(got[1]!.toString(), 'still here');
    assert.equal(listener.stats().badFrames, 1);
  });

  void it('closes a connection that sends a negative size', async () => {
    const listener = await listen({ onFrame: echo });
    const c = await client(listener.port);
    await c.write(Buffer.concat([frame('fine'), Buffer.from([0x80, 0, 0, 0])]));
    await c.closed;
    assert.equal(c.responses[0]?.toString(), 'fine');
  });

  void it('survives garbage bytes from many clients', async () => {
    const random = seededRandom(42);
    const listener = await listen({ maxRequestBytes: 4096, onFrame: echo });
    const garbage = await Promise.all(Array.from({ length: 30 }, () => client(listener.port)));
    for (const c of garbage) {
      const bytes = random.bytes(1 + random.int(20_000));
      c.socket.write(bytes);
      if (random.next() < 0.5) c.socket.end();
    }
    for (const c of garbage) c.destroy();
    const c = await client(listener.port);
    await c.write(frame('alive'));
    assert.equal((await c.waitForResponses(1))[0]!.toString(), 'alive');
  });

  void it('closes only the connection whose handler throws or rejects', async () => {
    const listener = await listen({
      onFrame: (_conn, f) => {
        const s = f.toString();
        if (s === 'throw') throw new Error('boom');
        if (s === 'reject') return Promise.reject(new Error('boom'));
        return Buffer.from(s);
      },
    });
    const a = await client(listener.port);
    const b = await client(listener.port);
    const ok = await client(listener.port);
    await a.write(frame('throw'));
    await b.write(frame('reject'));
    await Promise.all([a.closed, b.closed]);
    await ok.write(frame('fine'));
    assert.equal((await ok.waitForResponses(1))[0]!.toString(), 'fine');
  });

  void it('answers what was sent before the client half-closed, then closes', async () => {
    const listener = await listen({ onFrame: (_c, f) => Promise.resolve(Buffer.from(f)) });
    const c = await client(listener.port);
    c.socket.end(Buffer.concat([frame('1'), frame('2'), Buffer.from([0, 0])]));
    await c.closed;
    assert.deepEqual(
      c.responses.map((b) => b.toString()),
      ['1', '2'],
    );
  });
});

void describe('listener: idle and shutdown', () => {
  void it('closes idle connections on the injected clock, counting activity', async () => {
    const clock = new ManualClock();
    const opened: Connection[] = [];
    const listener = await listen({
      clock,
      idleTimeoutMs: 10_000,
      onFrame: echo,
      onConnectionOpen: (conn) => opened.push(conn),
    });
    const c = await client(listener.port);
    await waitUntil(() => opened.length === 1, 5000, 'connection accepted');
    clock.advance(6_000);
    await c.write(frame('ping'));
    await c.waitForResponses(1);
    clock.advance(6_000); // 12 s since open, 6 s since activity: still open
    assert.equal(c.isClosed(), false);
    assert.equal(listener.connectionCount, 1);
    clock.advance(4_000); // 10 s since activity
    await c.closed;
    assert.equal(listener.stats().idleClosed, 1);
    await waitUntil(() => listener.connectionCount === 0, 5000, 'connection forgotten');
    assert.equal(clock.pendingTimers, 0, 'no timer left behind');
  });

  void it('does not close an idle-looking connection with a request in flight', async () => {
    const clock = new ManualClock();
    const gate = deferred<FrameResponse>();
    const listener = await listen({ clock, idleTimeoutMs: 1000, onFrame: () => gate.promise });
    const c = await client(listener.port);
    await c.write(frame('slow'));
    await waitUntil(() => listener.stats().requests === 1, 5000, 'request dispatched');
    clock.advance(5000);
    assert.equal(listener.connectionCount, 1);
    gate.resolve(Buffer.from('done'));
    await c.waitForResponses(1);
    clock.advance(1000);
    await c.closed;
  });

  void it('close() answers requests in flight, then closes the sockets', async () => {
    const gate = deferred<FrameResponse>();
    let calls = 0;
    const listener = await startListener({
      host: '127.0.0.1',
      port: 0,
      maxRequestBytes: 1024,
      maxInFlightPerConnection: 10,
      idleTimeoutMs: 0,
      clock: systemClock,
      onFrame: () => {
        calls++;
        return gate.promise;
      },
    });
    const c = await client(listener.port);
    await c.write(frame('in flight'));
    await waitUntil(() => calls === 1, 5000, 'request dispatched');
    const closing = listener.close();
    // New connections are refused once closing has begun.
    await assert.rejects(connect(listener.port));
    gate.resolve(Buffer.from('answered'));
    await closing;
    await c.closed;
    assert.deepEqual(
      c.responses.map((b) => b.toString()),
      ['answered'],
    );
    assert.equal(listener.connectionCount, 0);
  });

  void it('close() gives up on handlers that never finish after closeTimeoutMs', async () => {
    const clock = new ManualClock();
    const listener = await startListener({
      host: '127.0.0.1',
      port: 0,
      maxRequestBytes: 1024,
      maxInFlightPerConnection: 10,
      idleTimeoutMs: 0,
      clock,
      closeTimeoutMs: 3000,
      onFrame: () => new Promise<FrameResponse>(() => {}),
    });
    const c = await client(listener.port);
    await c.write(frame('stuck'));
    await waitUntil(() => listener.stats().requests === 1, 5000, 'request dispatched');
    const closing = listener.close();
    clock.advance(3000);
    await closing;
    await c.closed;
    assert.equal(c.responses.length, 0);
  });
});

void describe('listener: connection limits', () => {
  void it('closes connections beyond maxConnectionsPerIp at once, and admits again after one closes', async () => {
    const listener = await listen({ onFrame: echo, maxConnectionsPerIp: 2 });
    const a = await client(listener.port);
    const b = await client(listener.port);
    await waitUntil(() => listener.connectionCount === 2, 5000, 'two accepted');
    const c = await client(listener.port);
    await c.closed;
    assert.equal(listener.stats().refusedPerIp, 1);
    a.destroy();
    await waitUntil(() => listener.connectionCount === 1, 5000, 'one closed');
    const d = await client(listener.port);
    await d.write(frame('in'));
    assert.equal((await d.waitForResponses(1))[0]!.toString(), 'in');
    await b.write(frame('b'));
    await b.waitForResponses(1);
  });
});

void describe('listener: request memory (queued.max.request.bytes)', () => {
  void it('holds requests that do not fit until others finish, across connections', async () => {
    const gates = new Map<string, ReturnType<typeof deferred<FrameResponse>>>();
    const seen: string[] = [];
    const listener = await listen({
      maxQueuedRequestBytes: 100,
      onFrame: (_conn, f) => {
        const body = f.toString().replace(/\.+$/, '');
        seen.push(body);
        const gate = deferred<FrameResponse>();
        gates.set(body, gate);
        return gate.promise;
      },
    });
    const a = await client(listener.port);
    const b = await client(listener.port);
    await a.write(frame(`a1${'.'.repeat(78)}`)); // 80 bytes
    await waitUntil(() => seen.length === 1, 5000, 'a1 dispatched');
    await b.write(frame(`b1${'.'.repeat(38)}`)); // 40 bytes: 120 > 100, must wait
    await a.write(frame('a2')); // 2 bytes: fits (82 <= 100), so it goes ahead of the waiting b1
    await waitUntil(() => seen.includes('a2'), 5000, 'a2 dispatched');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(!seen.includes('b1'), 'b1 waits for memory');
    assert.equal(listener.stats().queuedRequestBytes, 82);
    gates.get('a1')!.resolve(Buffer.from('A1'));
    await waitUntil(() => seen.includes('b1'), 5000, 'b1 dispatched once a1 is done');
    gates.get('a2')!.resolve(Buffer.from('A2'));
    gates.get('b1')!.resolve(Buffer.from('B1'));
    assert.deepEqual(
      (await a.waitForResponses(2)).map((r) => r.toString()),
      ['A1', 'A2'],
    );
    assert.equal((await b.waitForResponses(1))[0]!.toString(), 'B1');
    await waitUntil(() => listener.stats().queuedRequestBytes === 0, 5000, 'memory given back');
  });

  void it('admits a request larger than the bound when nothing else is in progress, and frees memory of closed connections', async () => {
    const gate = deferred<FrameResponse>();
    const listener = await listen({ maxQueuedRequestBytes: 10, onFrame: () => gate.promise });
    const a = await client(listener.port);
    await a.write(frame(Buffer.alloc(50)));
    await waitUntil(() => listener.stats().queuedRequestBytes === 50, 5000, 'big request admitted');
    // A bad frame closes the connection with its request still unanswered.
    await a.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await a.closed;
    await waitUntil(() => listener.stats().queuedRequestBytes === 0, 5000, 'memory freed on close');
    gate.resolve(null);
  });
});

void describe('listener: chaos (seeded)', () => {
  void it('clients vanishing mid-request leave no connection, request or memory behind', async () => {
    const random = seededRandom(7);
    const listener = await listen({
      maxQueuedRequestBytes: 4096,
      maxInFlightPerConnection: 3,
      maxRequestBytes: 2048,
      onFrame: (_conn, f) =>
        new Promise<FrameResponse>((resolve) => setTimeout(() => resolve(Buffer.from(f)), random.int(5))),
    });
    const clientsHere: TestClient[] = [];
    for (let i = 0; i < 40; i++) {
      const c = await client(listener.port);
      clientsHere.push(c);
      const frames = Buffer.concat(
        Array.from({ length: 1 + random.int(8) }, () => frame(random.bytes(random.int(1500)))),
      );
      const cut = random.int(frames.length + 1);
      c.socket.write(frames.subarray(0, cut));
      const action = random.int(4);
      if (action === 0) c.destroy();
      else if (action === 1) c.socket.end();
      else if (action === 2) c.socket.resetAndDestroy();
      // action 3: stays connected with a partial frame; destroyed below.
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    for (const c of clientsHere) c.destroy();
    await waitUntil(() => listener.connectionCount === 0, 10_000, 'every connection gone');
    const stats = listener.stats();
    assert.equal(stats.requestsInFlight, 0);
    await waitUntil(() => listener.stats().queuedRequestBytes === 0, 10_000, 'all request memory back');
    // Still serving.
    const ok = await client(listener.port);
    await ok.write(frame('fine'));
    assert.equal((await ok.waitForResponses(1))[0]!.toString(), 'fine');
  });
});

void describe('listener: scale', () => {
  void it('serves 1,000 concurrent connections', async () => {
    const listener = await listen({ onFrame: (conn, f) => Buffer.from(`${conn.remotePort}:${f.toString()}`) });
    const many = await Promise.all(Array.from({ length: 1000 }, () => client(listener.port)));
    await waitUntil(() => listener.connectionCount === 1000, 10_000, 'all accepted');
    await Promise.all(many.map((c, i) => c.write(frame(`hello-${i}`))));
    const answers = await Promise.all(many.map((c) => c.waitForResponses(1)));
    for (const [i, [a]] of answers.entries()) assert.equal(a!.toString(), `${many[i]!.socket.localPort}:hello-${i}`);
    assert.equal(listener.stats().connectionsAccepted, 1000);
    for (const c of many) c.destroy();
    await waitUntil(() => listener.connectionCount === 0, 10_000, 'all closed');
  });
});
