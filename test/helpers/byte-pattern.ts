/** `length` bytes of a pattern that differs by seed and position, to tell written bytes apart. */
export function bytePattern(length: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) buf[i] = (i * 31 + seed) & 0xff;
  return buf;
}
