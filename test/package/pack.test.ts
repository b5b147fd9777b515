import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { npmPack, ROOT } from './support.js';

const packed = npmPack(['--dry-run']);
const paths = new Set(packed.files.map((f) => f.path));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

describe('the packed package', () => {
  it('carries the MIT licence text with its copyright line', () => {
    assert.ok(paths.has('LICENSE'), 'LICENSE is packed');
    const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    assert.match(text, /^MIT License\n/);
    assert.match(text, /Copyright \(c\) 2026 The Capstan authors/);
    assert.equal(pkg.license, 'MIT');
  });

  it('maps every compiled file back to a source file that is packed too', () => {
    const maps = [...paths].filter((p) => p.endsWith('.map'));
    assert.ok(maps.length > 50, `the compiled code ships with its source maps (${maps.length} found)`);
    const unresolved: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot = '' } = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const source of sources) {
        const inPackage = posix.normalize(posix.join(posix.dirname(map), sourceRoot, source));
        if (!paths.has(inPackage)) unresolved.push(`${map} -> ${inPackage}`);
      }
    }
    assert.deepEqual(unresolved, []);
  });

  it('points every compiled module at a packed source map', () => {
    const missing: string[] = [];
    for (const file of [...paths].filter((p) => p.endsWith('.js'))) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(ROOT, file), 'utf8'))?.[1];
      if (url === undefined || !paths.has(posix.join(posix.dirname(file), url))) missing.push(file);
    }
    assert.deepEqual(missing, []);
  });

  it('lets users import capstan/package.json', () => {
    const exports = pkg.exports as Record<string, unknown>;
    assert.equal(exports['./package.json'], './package.json');
    assert.ok(paths.has('package.json'));
  });

  it('says where the project lives and where to report bugs', () => {
    const repository = pkg.repository as { type?: string; url?: string } | undefined;
    assert.equal(repository?.type, 'git');
    assert.match(repository?.url ?? '', /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
    assert.match(String(pkg.homepage), /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+#readme$/);
    assert.match(String((pkg.bugs as { url?: string } | undefined)?.url), /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/issues$/);
  });

  it('ships no tests, benchmarks or build state', () => {
    const stray = [...paths].filter((p) => /^(dist\/)?(test|bench|examples)\//.test(p) || p.endsWith('.tsbuildinfo'));
    assert.deepEqual(stray, []);
  });
});
