/**
 * Exactly once with kafkajs: a consume-transform-produce worker (helpers/txn-eos-child.ts,
 * a child process) is killed with SIGKILL while a transaction is open, then started again
 * with the same transactional.id (which fences the old producer and aborts its open
 * transaction). A read_committed reader of the output sees every input exactly once;
 * read_uncommitted sees the aborted duplicates too.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from './fixture.ts';
import { kcat } from './helpers/kcat.ts';

const CHILD = join(import.meta.dirname, 'helpers', 'txn-eos-child.ts');
const INPUTS = 150;

interface Worker {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  exited: Promise<void>;
}

function startWorker(bootstrap: string, stopAfter = 0): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, bootstrap, 'eos-in', 'eos-out', 'eos-g', 'eos-worker'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, EOS_STOP_AFTER: String(stopAfter) },
    },
  );
  const lines: string[] = [];
  const stderr: string[] = [];
  let rest = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    if (process.env.EOS_DEBUG) process.stderr.write(d);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, stderr, exited };
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function outputValues(bootstrap: string, isolation: string): Promise<string[]> {
  const out = await kcat([
    '-b',
    bootstrap,
    '-C',
    '-t',
    'eos-out',
    '-o',
    'beginning',
    '-e',
    '-q',
    '-X',
    `isolation.level=${isolation}`,
    '-f',
    '%s\\n',
  ]);
  return out.split('\n').filter((l) => l !== '');
}

void describe('exactly once: consume-transform-produce killed with SIGKILL and restarted', { timeout: 180_000 }, () => {
  let broker: TestBroker;
  const workers: ChildProcess[] = [];

  before(async () => {
    broker = await startTestBroker({
      config: {
        'transaction.state.log.num.partitions': '2',
        'offsets.topic.num.partitions': '2',
        'group.initial.rebalance.delay.ms': '0',
      },
    });
    const kafka = new Kafka({ clientId: 'eos-setup', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: 'eos-in', numPartitions: 1 },
        { topic: 'eos-out', numPartitions: 1 },
      ],
    });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < INPUTS; i += 10) {
      await producer.send({
        topic: 'eos-in',
        messages: Array.from({ length: 10 }, (_, j) => ({ key: `${i + j}`, value: `${i + j}` })),
      });
    }
    await producer.disconnect();
  });

  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await broker?.stop();
  });

  void it('every input appears once in the read_committed output', async () => {
    const STOP_AFTER = 50;
    const first = startWorker(broker.bootstrap, STOP_AFTER);
    workers.push(first.child);
    // Kill inside the open transaction the worker holds once STOP_AFTER records are committed
    // (an earlier `sent` line may be followed by its commit before the kill lands).
    await waitFor(() => {
      const committedSoFar = Number(
        first.lines
          .filter((l) => l.startsWith('committed'))
          .at(-1)
          ?.split(' ')[1] ?? 0,
      );
      return committedSoFar >= STOP_AFTER && first.lines.at(-1)?.startsWith('sent') === true;
    }, 'the first worker holding an open transaction after its commits');
    first.child.kill('SIGKILL');
    await first.exited;
    const committedBefore = Number(
      first.lines
        .filter((l) => l.startsWith('committed'))
        .at(-1)!
        .split(' ')[1],
    );
    assert.ok(committedBefore < INPUTS, `killed before the end: ${first.lines.join(' | ')}`);

    const second = startWorker(broker.bootstrap);
    workers.push(second.child);
    await waitFor(() => {
      if (second.child.exitCode !== null) throw new Error(`the second worker exited: ${second.stderr.join('')}`);
      return second.lines.some((l) => l.startsWith('committed') && Number(l.split(' ')[1]) + committedBefore >= INPUTS);
    }, `the second worker to finish the input (${committedBefore} before)`);
    second.child.kill('SIGKILL');
    await second.exited;

    const committed = await outputValues(broker.bootstrap, 'read_committed');
    assert.deepEqual(
      [...committed].sort(),
      Array.from({ length: INPUTS }, (_, i) => `out-${i}`).sort(),
      'each input exactly once under read_committed',
    );
    assert.equal(new Set(committed).size, INPUTS);
    const uncommitted = await outputValues(broker.bootstrap, 'read_uncommitted');
    assert.ok(uncommitted.length > INPUTS, `the aborted transaction's records are in the log (${uncommitted.length})`);
  });
});
