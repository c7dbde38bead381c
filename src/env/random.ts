/**
 * Randomness, injected. Production uses crypto-quality randomness; the simulator
 * passes a seeded generator so that a seed replays a run exactly.
 */
import { randomBytes, randomInt } from 'node:crypto';

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** n random bytes (ids, uuids). */
  bytes(n: number): Buffer;
}

export const systemRandom: Random = {
  next: () => randomInt(0, 2 ** 47) / 2 ** 47,
  int: (maxExclusive) => randomInt(0, maxExclusive),
  bytes: (n) => randomBytes(n),
};

/** A small, fast, seeded generator (xoshiro128**) for simulation and property tests. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0 || 1;
  let b = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) >>> 0 || 2;
  let c = Math.imul(b ^ 0xc2b2ae35, 0x27d4eb2f) >>> 0 || 3;
  let d = (a ^ b ^ c ^ 0x165667b1) >>> 0 || 4;
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  for (let i = 0; i < 8; i++) nextU32();
  return {
    next: () => nextU32() / 2 ** 32,
    int: (maxExclusive) => Math.floor((nextU32() / 2 ** 32) * maxExclusive),
    bytes(n) {
      const out = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) out[i] = nextU32() & 0xff;
      return out;
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
