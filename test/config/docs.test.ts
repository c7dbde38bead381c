import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIGURATION_DOC_PATH, renderConfigurationDoc } from '../../src/config/docs.ts';

/** Ignores how table columns are padded (Biome aligns them). */
function normalize(markdown: string): string {
  return markdown
    .split('\n')
    .map((line) =>
      line.startsWith('|')
        ? line
            .split(/(?<!\\)\|/)
            .map((c) => c.trim().replace(/^-{3,}$/, '---'))
            .join('|')
        : line.trimEnd(),
    )
    .join('\n')
    .trim();
}

void describe('docs/configuration.md', () => {
  void it('matches the property tables (regenerate: node --import tsx src/config/docs.ts --write)', () => {
    assert.equal(normalize(readFileSync(CONFIGURATION_DOC_PATH, 'utf8')), normalize(renderConfigurationDoc()));
  });
});
