/**
 * Runs the `runnel` command as a child process (node --import tsx src/cli/main.ts ...), with
 * optional stdin, and kills it after a bounded time. Also a kcat runner for interop tests.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input: string | undefined, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} took over ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** `runnel <args>` against `bootstrap` (added as --bootstrap-server unless null). */
export function runnel(
  bootstrap: string | null,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const all = bootstrap === null ? args : [...args, '--bootstrap-server', bootstrap];
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...all], opts.input, opts.timeoutMs ?? 20000);
}

/** Like runnel() but fails the test unless the exit code is 0. */
export async function runnelOk(
  bootstrap: string | null,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const r = await runnel(bootstrap, args, opts);
  if (r.code !== 0) throw new Error(`runnel ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

export async function kcat(args: string[], input?: string): Promise<string> {
  const r = await run('kcat', args, input, 15000);
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Rows of a table printed by formatTable (header row dropped), split on runs of spaces. */
export function tableRows(text: string, firstHeader: string): string[][] {
  const lines = text.split('\n');
  const words = firstHeader.split(/\s+/);
  const start = lines.findIndex((l) => {
    const cells = l.trim().split(/\s+/);
    return words.every((w, i) => cells[i] === w);
  });
  if (start < 0) throw new Error(`no table with ${firstHeader} in:\n${text}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    rows.push(line.trim().split(/\s{2,}/));
  }
  return rows;
}

/** Starts `runnel <args>` in the background; `stop()` sends SIGTERM and waits for the exit. */
export function startRunnel(
  bootstrap: string,
  args: string[],
): { stop(): Promise<RunResult>; exited: Promise<RunResult> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', ...args, '--bootstrap-server', bootstrap],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<RunResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return {
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}
