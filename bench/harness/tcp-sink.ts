/**
 * Child process for the loopback ceiling: accepts one connection on 127.0.0.1, reads everything,
 * and acknowledges the running byte total (8 bytes, big-endian) after every MiB received.
 * Prints its port on stdout; exits when the sender closes or after a minute at most.
 */
import { createServer } from 'node:net';

const ACK_EVERY_BYTES = 1 << 20;
const LIFETIME_MS = 60_000;

const server = createServer((socket) => {
  let received = 0;
  let acked = 0;
  const ack = () => {
    const frame = Buffer.allocUnsafe(8);
    frame.writeBigUInt64BE(BigInt(received));
    socket.write(frame);
    acked = received;
  };
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received - acked >= ACK_EVERY_BYTES) ack();
  });
  socket.on('end', () => {
    ack();
    socket.end();
    server.close();
  });
  socket.on('error', () => server.close());
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address !== 'string') process.stdout.write(`${address.port}\n`);
});
setTimeout(() => process.exit(0), LIFETIME_MS).unref();
