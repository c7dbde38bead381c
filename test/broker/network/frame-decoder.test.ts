import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder } from '../../../src/broker/network/frame-decoder.ts';
import { frame } from './helpers.ts';

function drain(decoder: FrameDecoder): Buffer[] {
  const out: Buffer[] = [];
  for (let next = decoder.next(); next !== null; next = decoder.next()) {
    if ('bad' in next) throw new Error(`bad frame ${next.bad.kind}`);
    out.push(next.frame);
  }
  return out;
}

const BODIES = [Buffer.from('hello'), Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(300, 7), Buffer.from('end')];
const STREAM = Buffer.concat(BODIES.map((b) => frame(b)));

void describe('FrameDecoder', () => {
  void it('decodes a stream split at every byte boundary', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const decoder = new FrameDecoder(1024);
      decoder.push(STREAM.subarray(0, cut));
      const got = drain(decoder);
      decoder.push(STREAM.subarray(cut));
      got.push(...drain(decoder));
      assert.deepEqual(got, BODIES, `cut at ${cut}`);
      assert.equal(decoder.bufferedBytes, 0);
    }
  });

  void it('decodes a stream fed one byte at a time', () => {
    const decoder = new FrameDecoder(1024);
    const got: Buffer[] = [];
    for (let i = 0; i < STREAM.length; i++) {
      decoder.push(STREAM.subarray(i, i + 1));
      got.push(...drain(decoder));
    }
    assert.deepEqual(got, BODIES);
  });

  void it('decodes any chunking of any frames (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
        fc.array(fc.nat({ max: 80 }), { maxLength: 30 }),
        (bodies, cuts) => {
          const stream = Buffer.concat(bodies.map((b) => frame(Buffer.from(b))));
          const decoder = new FrameDecoder(64);
          const got: Buffer[] = [];
          let at = 0;
          for (const len of cuts) {
            decoder.push(stream.subarray(at, Math.min(stream.length, at + len)));
            at = Math.min(stream.length, at + len);
            got.push(...drain(decoder));
          }
          decoder.push(stream.subarray(at));
          got.push(...drain(decoder));
          assert.deepEqual(
            got.map((b) => [...b]),
            bodies.map((b) => [...b]),
          );
        },
      ),
    );
  });

  void it('returns frames inside one chunk as views, without copying', () => {
    const decoder = new FrameDecoder(1024);
    const chunk = Buffer.concat([frame('abc'), frame('defg')]);
    decoder.push(chunk);
    const [a, b] = drain(decoder);
    assert.equal(a!.buffer, chunk.buffer);
    assert.equal(b!.buffer, chunk.buffer);
    assert.equal(b!.toString(), 'defg');
  });

  void it('rejects a size above the bound as soon as the prefix is in, before the body', () => {
    const decoder = new FrameDecoder(100);
    const prefix = Buffer.alloc(4);
    prefix.writeInt32BE(101);
    decoder.push(prefix.subarray(0, 3));
    assert.equal(decoder.next(), null);
    decoder.push(prefix.subarray(3));
    assert.deepEqual(decoder.next(), { bad: { kind: 'too-large', size: 101, maxFrameBytes: 100 } });
    // The decoder stays failed and keeps nothing.
    decoder.push(Buffer.alloc(50));
    assert.equal(decoder.bufferedBytes, 0);
    assert.ok(decoder.next() !== null && 'bad' in decoder.next()!);
  });

  void it('accepts a frame of exactly the bound', () => {
    const decoder = new FrameDecoder(100);
    decoder.push(frame(Buffer.alloc(100, 1)));
    assert.equal(drain(decoder)[0]!.length, 100);
  });

  void it('rejects a negative size', () => {
    const decoder = new FrameDecoder(100);
    decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xfe]));
    assert.deepEqual(decoder.next(), { bad: { kind: 'negative-size', size: -2 } });
  });

  void it('assembles a large frame from many chunks in linear time', () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 3);
    const stream = frame(body);
    const decoder = new FrameDecoder(body.length);
    const started = performance.now();
    for (let i = 0; i < stream.length; i += 1000) decoder.push(stream.subarray(i, i + 1000));
    const [got] = drain(decoder);
    assert.equal(got!.length, body.length);
    assert.ok(got!.equals(body));
    assert.ok(performance.now() - started < 2000, 'took too long: quadratic assembly?');
  });

  void it('never throws on arbitrary bytes, and every frame it returns is within the bound (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), fc.nat({ max: 64 }), (chunks, max) => {
        const decoder = new FrameDecoder(max);
        for (const chunk of chunks) {
          decoder.push(Buffer.from(chunk));
          for (let next = decoder.next(); next !== null; next = decoder.next()) {
            if ('bad' in next) return;
            assert.ok(next.frame.length <= max);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
