/**
 * The machine's own limits, measured in the same run as everything they are compared with:
 * loopback TCP between two processes, and sequential file writes with and without fdatasync.
 */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { firstLine, LOOPBACK, rssBytes, startProcess, tsxArgs, withTimeout } from './harness/process.ts';
import { type Figure, figure } from './harness/results.ts';

const SECTION = 'machine';
const SOURCE = 'machine';
const MiB = 1 << 20;
const MB = 1e6;

export interface MachineOptions {
  readonly quick: boolean;
  /** A temporary directory on the same disk as ./data. */
  readonly dir: string;
}

export async function runMachineBench(options: MachineOptions): Promise<Figure[]> {
  const seconds = options.quick ? 1.5 : 5;
  const loopback = await loopbackMBps(seconds);
  const write = diskWriteMBps(join(options.dir, 'write.bin'), {
    seconds,
    maxBytes: (options.quick ? 512 : 2048) * MiB,
    syncEveryBytes: 0,
  });
  const synced = diskWriteMBps(join(options.dir, 'fdatasync.bin'), {
    seconds,
    maxBytes: (options.quick ? 512 : 2048) * MiB,
    syncEveryBytes: MiB,
  });
  const idleRss = await idleRssMB(idleSettleMs(options.quick));
  return [
    figure(SECTION, SOURCE, 'ceiling', 'loopback-MBps', loopback),
    figure(
      SECTION,
      SOURCE,
      'ceiling',
      'disk-write-MBps',
      write,
      `sustained for ${seconds} s, so page-cache writeback throttling counts; writes of less data can exceed it`,
    ),
    figure(SECTION, SOURCE, 'ceiling', 'disk-fdatasync-MBps', synced),
    figure(SECTION, SOURCE, 'ceiling', 'idle-rss-floor-MB', idleRss, idleRss === null ? 'no /proc' : undefined),
  ];
}

/** How long a broker (and the idle floor) settles before its RSS is read. */
export function idleSettleMs(quick: boolean): number {
  return quick ? 1000 : 3000;
}

/** RSS of a Node process that loaded tsx and nothing else: what any broker run this way starts from. */
async function idleRssMB(settleMs: number): Promise<number | null> {
  const script = fileURLToPath(new URL('./harness/idle-child.ts', import.meta.url));
  const child = startProcess(process.execPath, tsxArgs(script));
  try {
    await firstLine(child, 15_000, 'idle child start');
    await sleep(settleMs);
    const rss = await rssBytes(child.child.pid!);
    return rss === null ? null : rss / MB;
  } finally {
    await child.stop();
  }
}

/**
 * Sends 1 MiB writes to a sink in another process for `seconds` and counts the bytes the sink
 * acknowledged having read, after a short warm-up.
 */
async function loopbackMBps(seconds: number): Promise<number> {
  const sinkScript = fileURLToPath(new URL('./harness/tcp-sink.ts', import.meta.url));
  const sink = startProcess(process.execPath, tsxArgs(sinkScript));
  try {
    const port = Number(await firstLine(sink, 15_000, 'loopback sink start'));
    return await withTimeout(sendFor(port, seconds), (seconds + 10) * 1000, 'loopback measurement');
  } finally {
    await sink.stop();
  }
}

async function sendFor(port: number, seconds: number): Promise<number> {
  const warmupMs = 300;
  const payload = Buffer.alloc(MiB, 0x5a);
  const socket = createConnection({ host: LOOPBACK, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let acked = 0;
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      acked = Number(pending.readBigUInt64BE(0));
      pending = pending.subarray(8);
    }
  });
  const failed = new Promise<never>((_, reject) => socket.once('error', reject));
  const start = performance.now();
  let measureStart = Number.NaN;
  let ackedAtStart = 0;
  try {
    while (performance.now() - start < warmupMs + seconds * 1000) {
      if (Number.isNaN(measureStart) && performance.now() - start >= warmupMs) {
        measureStart = performance.now();
        ackedAtStart = acked;
      }
      if (!socket.write(payload)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), failed]);
    }
    const elapsedSeconds = (performance.now() - measureStart) / 1000;
    return (acked - ackedAtStart) / MB / elapsedSeconds;
  } finally {
    socket.destroy();
  }
}

/**
 * Writes 1 MiB blocks sequentially for `seconds` (or until `maxBytes`), optionally calling
 * fdatasync every `syncEveryBytes`. Synchronous on purpose: nothing else runs meanwhile.
 */
function diskWriteMBps(path: string, options: { seconds: number; maxBytes: number; syncEveryBytes: number }): number {
  const block = Buffer.alloc(MiB, 0xa5);
  const fd = openSync(path, 'w');
  let written = 0;
  let unsynced = 0;
  const start = performance.now();
  try {
    while (written < options.maxBytes && performance.now() - start < options.seconds * 1000) {
      written += writeSync(fd, block);
      unsynced += block.length;
      if (options.syncEveryBytes > 0 && unsynced >= options.syncEveryBytes) {
        fdatasyncSync(fd);
        unsynced = 0;
      }
    }
    return written / MB / ((performance.now() - start) / 1000);
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}
