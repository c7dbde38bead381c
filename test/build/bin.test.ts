/**
 * bin/runnel.js (the `runnel` command and `npm start`) chooses between the production build
 * and the sources: dist/runnel.js when it is there and no source it was built from changed
 * after the build started, the sources through tsx otherwise (or with RUNNEL_FROM_SOURCE=1).
 * Checked on a copy of bin/runnel.js in a small tree whose "bundle" and "sources" only say
 * which one ran.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);

// Inside the repository, so that bin/runnel.js finds tsx in node_modules.
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const TREE = mkdtempSync(join(ROOT, '.tmp', 'bin-test-'));
mkdirSync(join(TREE, 'bin'));
mkdirSync(join(TREE, 'dist'));
mkdirSync(join(TREE, 'src', 'cli'), { recursive: true });
copyFileSync(join(ROOT, 'bin', 'runnel.js'), join(TREE, 'bin', 'runnel.js'));
writeFileSync(join(TREE, 'dist', 'runnel.js'), "process.stdout.write('built\\n');\n");
writeFileSync(
  join(TREE, 'src', 'cli', 'main.ts'),
  // Type annotations: only tsx can run this.
  "const from: string = 'source';\nprocess.stdout.write(from + '\\n');\n",
);
const MAIN_MTIME_MS = statSync(join(TREE, 'src', 'cli', 'main.ts')).mtimeMs;

function writeBuildInfo(startedAtMs: number, inputs: string[] = ['src/cli/main.ts']): void {
  writeFileSync(join(TREE, 'dist', 'build-info.json'), JSON.stringify({ entry: 'runnel.js', startedAtMs, inputs }));
}

async function runBin(env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const childEnv = { ...process.env, ...env };
  if (env.RUNNEL_FROM_SOURCE === undefined) delete childEnv.RUNNEL_FROM_SOURCE;
  return exec(process.execPath, [join(TREE, 'bin', 'runnel.js')], { env: childEnv, encoding: 'utf8', timeout: 30_000 });
}

after(() => rmSync(TREE, { recursive: true, force: true }));

void describe('bin/runnel.js', { timeout: 120_000 }, () => {
  void it('runs the build when it is newer than its sources', async () => {
    writeBuildInfo(MAIN_MTIME_MS + 1000);
    const { stdout, stderr } = await runBin();
    assert.equal(stdout, 'built\n');
    assert.equal(stderr, '');
  });

  void it('a source the build lists that is gone does not make the build stale', async () => {
    writeBuildInfo(MAIN_MTIME_MS + 1000, ['src/cli/main.ts', 'src/gone.ts']);
    assert.equal((await runBin()).stdout, 'built\n');
  });

  void it('runs the sources through tsx, saying why, when a source changed after the build started', async () => {
    writeBuildInfo(MAIN_MTIME_MS - 1000);
    const { stdout, stderr } = await runBin();
    assert.equal(stdout, 'source\n');
    assert.match(stderr, /src\/cli\/main\.ts changed after dist\/ was built/);
  });

  void it('an installed package (under node_modules) runs its build without checking the sources', async () => {
    const installed = join(TREE, 'node_modules', 'runnel');
    mkdirSync(join(installed, 'bin'), { recursive: true });
    mkdirSync(join(installed, 'dist'));
    mkdirSync(join(installed, 'src', 'cli'), { recursive: true });
    copyFileSync(join(ROOT, 'bin', 'runnel.js'), join(installed, 'bin', 'runnel.js'));
    writeFileSync(join(installed, 'dist', 'runnel.js'), "process.stdout.write('built\\n');\n");
    writeFileSync(join(installed, 'src', 'cli', 'main.ts'), '');
    // Built before its source was last written: a checkout would run the sources.
    const mtime = statSync(join(installed, 'src', 'cli', 'main.ts')).mtimeMs;
    writeFileSync(
      join(installed, 'dist', 'build-info.json'),
      JSON.stringify({ entry: 'runnel.js', startedAtMs: mtime - 1000, inputs: ['src/cli/main.ts'] }),
    );
    const { stdout, stderr } = await exec(process.execPath, [join(installed, 'bin', 'runnel.js')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(stdout, 'built\n');
    assert.equal(stderr, '');
  });

  void it('runs the sources with RUNNEL_FROM_SOURCE=1', async () => {
    writeBuildInfo(MAIN_MTIME_MS + 1000);
    const { stdout, stderr } = await runBin({ RUNNEL_FROM_SOURCE: '1' });
    assert.equal(stdout, 'source\n');
    assert.equal(stderr, '');
  });

  void it('runs the sources, silently, when there is no build', async () => {
    rmSync(join(TREE, 'dist', 'build-info.json'));
    const { stdout, stderr } = await runBin();
    assert.equal(stdout, 'source\n');
    assert.equal(stderr, '');
  });
});
