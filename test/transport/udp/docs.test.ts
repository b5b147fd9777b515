import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigSchema, DEFAULT_UDP_CLIENT_LIMITS, DEFAULT_UDP_LIMITS, UDP_DROP_REASONS } from '../../../src/index.js';
import { explain } from '../../../src/server/config/explain.js';

const doc = readFileSync(new URL('../../../../docs/udp.md', import.meta.url), 'utf8');

const clients = doc.indexOf('\n## Clients');

/** The `| \`name\` | 1,234 … |` rows of a part of the doc, as numbers. */
function limitRows(part: string): Record<string, number> {
  const rows = new Map<string, number>();
  for (const m of part.matchAll(/^\| `(\w+)` \| ([\d,]+) /gm)) rows.set(m[1] as string, Number((m[2] as string).replace(/,/g, '')));
  return Object.fromEntries(rows);
}

describe('docs/udp.md', () => {
  it('gives every limit with its default as the code has it', () => {
    assert.ok(clients > 0, 'a Clients section');
    assert.deepEqual(limitRows(doc.slice(0, clients)), { ...DEFAULT_UDP_LIMITS });
  });

  it("gives every client limit with its default as the code has it", () => {
    assert.deepEqual(limitRows(doc.slice(clients, doc.indexOf('\n## Multicast'))), { ...DEFAULT_UDP_CLIENT_LIMITS });
  });

  it('names every drop reason the counters have', () => {
    const row = doc.split('\n').find((l) => l.startsWith('| `udp.drops[reason]`')) ?? '';
    assert.deepEqual([...row.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]), [...UDP_DROP_REASONS]);
  });

  it('shows a config that passes the schema', () => {
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    assert.equal(blocks.length, 1);
    assert.deepEqual(explain(ConfigSchema, parse(blocks[0] as string)), []);
  });
});
