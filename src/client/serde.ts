/**
 * Typed key/value (de)serializers, Kafka's `key.serializer` / `value.deserializer`.
 * A serializer turns a value into bytes (or null); a deserializer does the reverse.
 */

export type Serializer<T> = (data: T, topic: string) => Buffer | null;
export type Deserializer<T> = (data: Buffer | null, topic: string) => T;

/** Bytes as given: Buffer, Uint8Array, string (UTF-8) or null. The default. */
export const bytesSerializer: Serializer<Buffer | Uint8Array | string | null | undefined> = (data) => {
  if (data === null || data === undefined) return null;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
};

export const stringSerializer: Serializer<string | null> = (data) => (data === null ? null : Buffer.from(data, 'utf8'));

export const jsonSerializer: Serializer<unknown> = (data) =>
  data === null || data === undefined ? null : Buffer.from(JSON.stringify(data), 'utf8');

/** Buffers as decoded (zero-copy views of the fetch response). The default. */
export const bufferDeserializer: Deserializer<Buffer | null> = (data) => data;

export const stringDeserializer: Deserializer<string | null> = (data) => (data === null ? null : data.toString('utf8'));

export const jsonDeserializer: Deserializer<unknown> = (data) =>
  data === null ? null : (JSON.parse(data.toString('utf8')) as unknown);
