import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

describe('docs/errors.md', () => {
  it('has a row for every error code Capstan raises', () => {
    const source = readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8');
    const union = source.slice(source.indexOf('export type ErrorCode'), source.indexOf(';', source.indexOf('export type ErrorCode')));
    const codes = [...union.matchAll(/'(ERR_[A-Z0-9_]+)'/g)].map((m) => m[1] as string);
    assert.ok(codes.length > 20, `${codes.length} codes read from src/errors.ts`);
    const rows = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('| `ERR_'));
    const documented = new Set(rows.map((l) => /^\| `(ERR_[A-Z0-9_]+)`/.exec(l)?.[1]));
    assert.deepEqual(codes.filter((c) => !documented.has(c)), [], 'codes without a row');
    assert.deepEqual([...documented].filter((c) => c !== undefined && !codes.includes(c)), [], 'rows for codes that do not exist');
  });
});
