/**
 * A minimal raw Kafka connection for e2e tests: sends requests encoded with our generated
 * codecs and decodes the answers, in order (one request at a time per call; pipelining
 * is allowed by sending several before awaiting).
 */
import net from 'node:net';
import { decodeResponse, encodeRequest } from '../../../src/protocol/frame.ts';
import type { RequestTypes, ResponseTypes } from '../../../src/protocol/generated/api-keys.ts';

type Key = keyof RequestTypes & keyof ResponseTypes & number;

export class RawClient {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (frame: Buffer) => void; reject: (err: Error) => void }[] = [];
  private correlationId = 1;
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 4) {
        const size = this.buffered.readInt32BE(0);
        if (this.buffered.length < 4 + size) break;
        const frame = this.buffered.subarray(4, 4 + size);
        this.buffered = this.buffered.subarray(4 + size);
        this.waiting.shift()?.resolve(frame);
      }
    });
    const fail = (err: Error): void => {
      this.closedError = err;
      for (const w of this.waiting.splice(0)) w.reject(err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static connect(bootstrap: string): Promise<RawClient> {
    const [host, port] = bootstrap.split(':');
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: host!, port: Number(port) }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends a request and resolves with the decoded response body. */
  async send<K extends Key>(apiKey: K, apiVersion: number, body: RequestTypes[K]): Promise<ResponseTypes[K]> {
    const frame = await this.sendRaw(apiKey, apiVersion, body);
    return decodeResponse(apiKey, apiVersion, frame).body as ResponseTypes[K];
  }

  /** Sends a request that gets no answer (acks=0 produce). */
  sendNoResponse<K extends Key>(apiKey: K, apiVersion: number, body: RequestTypes[K]): void {
    const bytes = encodeRequest(
      { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId: this.correlationId++, clientId: 'raw' },
      body as never,
    );
    this.socket.write(bytes);
  }

  sendRaw<K extends Key>(apiKey: K, apiVersion: number, body: RequestTypes[K]): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    const bytes = encodeRequest(
      { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId: this.correlationId++, clientId: 'raw' },
      body as never,
    );
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
