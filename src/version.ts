import { readFileSync } from 'node:fs';

/** package.json's version, defined by the production build (tools/build.mjs); undefined when run from source. */
declare const RUNNEL_BUILD_VERSION: string | undefined;

/**
 * Run from source: the version in the nearest package.json named "runnel" above this
 * file, so the answer does not depend on where this module sits in the tree.
 */
function versionFromPackageJson(): string {
  let dir = new URL('./', import.meta.url);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'runnel' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here (or not readable): keep looking upwards
    }
    const parent = new URL('../', dir);
    if (parent.href === dir.href) throw new Error(`no package.json of runnel above ${import.meta.url}`);
    dir = parent;
  }
}

/** The package version. */
export const VERSION: string =
  typeof RUNNEL_BUILD_VERSION === 'string' ? RUNNEL_BUILD_VERSION : versionFromPackageJson();
