import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rawConnect } from '../support/net.js';
import { serveExampleForSuite } from './spawn-example.js';

describe('examples/chat', () => {
  const port = serveExampleForSuite('chat');

  it('greets each client and relays a line to every other client, not back to the sender', async () => {
    const alice = await rawConnect({ port: port() });
    const bob = await rawConnect({ port: port() });
    const carol = await rawConnect({ port: port() });
    for (const p of [alice, bob, carol]) await p.waitBytes('welcome\r\n'.length);
    alice.socket.write('hi all\n');
    for (const p of [bob, carol]) assert.equal((await p.waitBytes('welcome\r\nhi all\r\n'.length)).toString(), 'welcome\r\nhi all\r\n');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(alice.received().toString(), 'welcome\r\n');
    for (const p of [alice, bob, carol]) p.socket.destroy();
  });

  it('is the code docs/getting-started.md shows', () => {
    const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
    const example = read('examples/chat.ts');
    const handler = example.slice(example.indexOf('  handler: {'), example.indexOf('console.log(`chat listening'));
    assert.ok(handler.length > 100);
    assert.ok(read('docs/getting-started.md').includes(handler), 'the guide shows the example handler verbatim');
  });
});
