import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { explain } from '../../src/server/config/explain.js';
import { DEFAULT_CONFIG } from '../../src/server/config/load.js';
import { BEGIN, END, renderReference } from '../../src/server/config/reference.js';
import { ConfigSchema } from '../../src/server/config/schema.js';
import { ROOT } from './support.js';

const doc = readFileSync(join(ROOT, 'docs/server.md'), 'utf8');

/** The fenced yaml blocks of the document. */
function yamlBlocks(): string[] {
  return [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

describe('docs/server.md', () => {
  it('carries the config reference exactly as the schema renders it', () => {
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    assert.ok(start >= 0 && end > start, 'the reference markers are present');
    assert.equal(
      doc.slice(start + BEGIN.length, end).trim(),
      renderReference(),
      'regenerate with: npx tsc -p . && node dist/src/server/config/reference.js docs/server.md',
    );
  });

  it('shows the built-in default config as it is', () => {
    assert.deepEqual(parse(yamlBlocks()[0] as string), DEFAULT_CONFIG);
  });

  it('shows an example config that passes the schema', () => {
    assert.deepEqual(explain(ConfigSchema, parse(yamlBlocks()[1] as string)), []);
  });
});
