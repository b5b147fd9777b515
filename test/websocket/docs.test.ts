/** docs/websocket.md against the code: every option has a row, and each default is the one the server applies. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Type, type TSchema } from '@sinclair/typebox';
import { webSocketSchema } from '../../src/server/config/websocket.js';
import { resolveServerOptions } from '../../src/websocket/options.js';
import { DEFAULT_DEFLATE, DEFLATE_KEYS } from '../../src/websocket/deflate-options.js';

const doc = readFileSync(new URL('../../../docs/websocket.md', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** The default column of the option's table row (`| \`key\` | default | … |`). */
function documentedDefault(key: string): string {
  const row = doc.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
  assert.ok(row !== undefined, `docs/websocket.md has a row for ${key}`);
  return (row.split('|')[2] ?? '').trim();
}

describe('docs/websocket.md', () => {
  it('has a row for every key a config file may give', () => {
    const schema = webSocketSchema(Type.String()) as TSchema & { properties: Record<string, TSchema & { items?: { properties: Record<string, unknown> } }> };
    const endpoint = Object.keys(schema.properties.endpoints?.items?.properties ?? {}).filter((k) => k !== 'plugin');
    assert.ok(endpoint.length > 5);
    for (const key of [...Object.keys(schema.properties), ...endpoint]) documentedDefault(key);
  });

  it('gives the defaults the server applies', () => {
    const o = resolveServerOptions({ handler: {} });
    const e = o.endpoints[0];
    assert.ok(e !== undefined);
    const numbers: Record<string, number> = {
      maxHeaderBytes: o.maxHeaderBytes,
      maxRequestLineBytes: o.maxRequestLineBytes,
      maxHeaders: o.maxHeaders,
      upgradeTimeoutMs: o.upgradeTimeoutMs,
      maxMessageBytes: e.maxMessageBytes,
      maxFragments: e.maxFragments,
      pingIntervalMs: e.pingIntervalMs,
      pongTimeoutMs: e.pongTimeoutMs,
      closeTimeoutMs: e.closeTimeoutMs,
    };
    for (const [key, value] of Object.entries(numbers)) {
      const given = Number((/^[\d,]+/.exec(documentedDefault(key))?.[0] ?? '').replace(/,/g, ''));
      assert.equal(given, value, `${key}: documented ${documentedDefault(key)}, applied ${value}`);
    }
    assert.equal(e.path, '*');
    assert.equal(documentedDefault('path'), '`*` (single-endpoint form)');
  });

  it('gives the permessage-deflate defaults `perMessageDeflate: true` takes', () => {
    const e = resolveServerOptions({ handler: {}, perMessageDeflate: true }).endpoints[0];
    assert.deepEqual(e?.perMessageDeflate, DEFAULT_DEFLATE);
    for (const key of DEFLATE_KEYS) {
      const given = documentedDefault(key);
      const value = DEFAULT_DEFLATE[key];
      if (typeof value === 'boolean') assert.equal(given, String(value), key);
      else if (key === 'clientMaxWindowBits') assert.equal(given, 'none', 'not asked for unless given');
      else assert.equal(Number(given.replace(/,/g, '')), value, `${key}: documented ${given}, applied ${value}`);
    }
  });

  it('is linked from the README', () => {
    assert.match(readme, /\[docs\/websocket\.md\]\(docs\/websocket\.md\)/);
  });
});
