/**
 * Protocol code generator: reads Kafka's JSON message specs and writes
 * src/protocol/generated/. Usage:
 *
 *   npm run codegen                 # write the files
 *   npm run codegen -- --check      # regenerate in memory; exit 1 on any difference
 *   npm run codegen -- --spec DIR   # read specs from DIR (default ../shared/kafka-spec)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitMessage } from './emit-message.ts';
import {
  emitApiKeys,
  emitCoordinatorRecords,
  emitErrors,
  emitIndex,
  emitMetadataRecords,
  moduleName,
  parseErrorTsv,
} from './emit-tables.ts';
import { loadSpecs } from './spec.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '..', '..');
export const DEFAULT_SPEC_DIR = resolve(REPO_ROOT, '..', 'shared', 'kafka-spec');
export const OUT_DIR = join(REPO_ROOT, 'src', 'protocol', 'generated');

/** Every generated file: module file name -> contents. */
export function generate(specDir: string): Map<string, string> {
  const specs = loadSpecs(specDir);
  const files = new Map<string, string>();
  const modules: string[] = [];
  const seenTypes = new Map<string, string>();
  for (const spec of specs) {
    for (const s of spec.structs) {
      const prev = seenTypes.get(s.tsName);
      if (prev !== undefined) throw new Error(`type ${s.tsName} from ${spec.name} collides with ${prev}`);
      seenTypes.set(s.tsName, spec.name);
    }
    const mod = moduleName(spec.name);
    if (files.has(`${mod}.ts`)) throw new Error(`duplicate module ${mod}`);
    files.set(`${mod}.ts`, emitMessage(spec));
    modules.push(mod);
  }
  files.set('api-keys.ts', emitApiKeys(specs));
  files.set('metadata-records.ts', emitMetadataRecords(specs));
  files.set('coordinator-records.ts', emitCoordinatorRecords(specs));
  files.set('errors.ts', emitErrors(parseErrorTsv(readFileSync(join(here, 'error-codes.tsv'), 'utf8'))));
  modules.push('api-keys', 'metadata-records', 'coordinator-records', 'errors');
  files.set('index.ts', emitIndex(modules));
  return files;
}

/** Differences between `files` and the contents of `dir` (missing, changed, extra). */
export function diff(files: Map<string, string>, dir: string): string[] {
  const problems: string[] = [];
  const existing = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ts')) : [];
  for (const [name, text] of files) {
    const path = join(dir, name);
    if (!existsSync(path)) problems.push(`missing: ${name}`);
    else if (readFileSync(path, 'utf8') !== text) problems.push(`differs: ${name}`);
  }
  for (const name of existing) if (!files.has(name)) problems.push(`extra: ${name}`);
  return problems;
}

function main(argv: string[]): number {
  let specDir = DEFAULT_SPEC_DIR;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--spec') specDir = resolve(argv[++i] ?? '');
    else {
      process.stderr.write(`unknown argument ${a}\nusage: codegen [--check] [--spec DIR]\n`);
      return 2;
    }
  }
  const files = generate(specDir);
  if (check) {
    const problems = diff(files, OUT_DIR);
    if (problems.length > 0) {
      process.stderr.write(
        `src/protocol/generated is out of date (run npm run codegen):\n  ${problems.join('\n  ')}\n`,
      );
      return 1;
    }
    process.stdout.write(`src/protocol/generated is up to date (${files.size} files)\n`);
    return 0;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  for (const name of readdirSync(OUT_DIR)) if (!files.has(name)) rmSync(join(OUT_DIR, name));
  for (const [name, text] of files) {
    const path = join(OUT_DIR, name);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text);
  }
  process.stdout.write(`wrote ${files.size} files to ${OUT_DIR}\n`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
