import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { join } from 'node:path';
import { rawConnect, type RawPeer } from '../support/net.js';
import { freePortOffset, ROOT, runCli, startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-plugins-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

/** Lines received so far on a CRLF line connection. */
function linesOf(peer: RawPeer): string[] {
  return peer.received().toString().split('\r\n').slice(0, -1);
}

async function waitLines(peer: RawPeer, n: number): Promise<string[]> {
  const deadline = Date.now() + 30_000;
  while (linesOf(peer).length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} lines, got ${JSON.stringify(linesOf(peer))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return linesOf(peer);
}

describe('the example plugin (examples/plugins)', () => {
  it('is called through every entry point in the documented order, with its options checked and defaulted', async () => {
    const offset = await freePortOffset([7100]);
    const run = await startServe(['--config', join(ROOT, 'examples/plugins/capstan.yaml'), '--port-offset', String(offset)]);
    runs.push(run);
    const port = run.listeners().get('entry-points')?.port as number;
    assert.equal(port, 7100 + offset);

    const a = await rawConnect({ host: '127.0.0.1', port });
    assert.deepEqual(await waitLines(a, 1), ['hello from the example plugin']);
    a.socket.write('ECHO one\r\nNOPE\r\nQUIT\r\n');
    assert.equal(await a.ended, 'end');
    assert.deepEqual(linesOf(a), ['hello from the example plugin', 'one', 'ERR unknown command "NOPE"; try ECHO, HASH or QUIT', 'bye']);
    a.socket.end();
    await run.waitForLog((r) => r.call === 'close');

    const b = await rawConnect({ host: '127.0.0.1', port });
    await waitLines(b, 1);
    run.child.kill('SIGTERM');
    // The plugin's shutdown hook says goodbye at the protocol level, then ends.
    assert.equal(await b.ended, 'end');
    assert.deepEqual(linesOf(b), ['hello from the example plugin', 'server shutting down, bye']);
    b.socket.end();
    assert.deepEqual(await run.exited, { code: 0, signal: null });

    const calls = run.logs().filter((r) => typeof r.call === 'string');
    const sequence = calls.map((r) => (r.conn === undefined ? r.call : `${r.call}#${r.conn === calls.find((c) => c.call === 'open')?.conn ? 'a' : 'b'}`));
    assert.deepEqual(sequence, [
      'codec', // checking the config
      'codec', // starting the listener
      'setup',
      'handler',
      'open#a',
      'message#a',
      'message#a',
      'message#a',
      'close#a',
      'open#b',
      'shutdown#b',
      'close#b',
      'teardown',
    ]);
    const setup = calls.find((r) => r.call === 'setup');
    assert.deepEqual(setup?.options, { greeting: 'hello from the example plugin', farewell: 'server shutting down, bye', maxLineBytes: 4096 });
    assert.equal(setup?.worker, 'main');
    assert.equal(calls.find((r) => r.call === 'close' && r.reason !== undefined)?.reason, 'local-end');
  });

  it('hands slow work to the cpu thread pool while the event loop keeps answering', async () => {
    const file = tmp.write(
      'threads.yaml',
      ['listeners:', `  - { name: ep, port: 0, plugin: ${join(ROOT, 'dist/examples/plugins/entry-points.js')} }`, 'admin: false', 'logging: { level: warn }'].join('\n'),
    );
    const run = await startServe(['--config', file]);
    runs.push(run);
    const port = run.listeners().get('ep')?.port as number;
    const peer = await rawConnect({ host: '127.0.0.1', port });
    await waitLines(peer, 1);
    const HASHES = 8;
    // One write, so the server reads the echo request in the same turn as the hashes. The replies share
    // one stream, whose order is the order the server sent them in, whenever this process gets to read
    // them: a hash computed on the event loop would be sent before the echo.
    peer.socket.write(`${Array.from({ length: HASHES }, (_, i) => `HASH text ${i}\r\n`).join('')}ECHO meanwhile\r\n`);
    const [greeting, first, ...hashes] = await waitLines(peer, 2 + HASHES);
    assert.equal(greeting, 'hello from capstan');
    assert.equal(first, 'meanwhile', 'the echo was answered before any hash was done');
    const expected = Array.from({ length: HASHES }, (_, i) => scryptSync(`text ${i}`, 'capstan-example', 32, { N: 1 << 14 }).toString('hex')).sort();
    assert.deepEqual(hashes.sort(), expected);
    peer.socket.destroy();
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });
});

describe('plugin modules', () => {
  it('fail the start with the plugin’s own words when setup throws, exit status 1', async () => {
    const plugin = tmp.write(
      'broken.mjs',
      "export default { name: 'broken', async setup() { throw new Error('database unreachable'); }, handler: () => ({}) };\n",
    );
    const file = tmp.write('broken.yaml', ['listeners:', `  - { name: b, port: 0, plugin: ./broken.mjs }`, 'admin: false'].join('\n'));
    const run = runCli(['serve', '--config', file]);
    runs.push(run);
    const { code } = await run.exited;
    assert.equal(code, 1);
    assert.match(run.err.join('\n'), /cannot start: listener b: plugin broken setup failed: database unreachable/);
    assert.ok(plugin.endsWith('broken.mjs'));
  });

  it('are refused at check time when the default export is not a plugin', async () => {
    tmp.write('not-a-plugin.mjs', 'export default { name: "half" };\n');
    const file = tmp.write('half.yaml', ['listeners:', '  - { name: h, port: 0, plugin: ./not-a-plugin.mjs }'].join('\n'));
    const run = runCli(['check', '--config', file]);
    runs.push(run);
    assert.equal((await run.exited).code, 78);
    assert.match(run.err.join('\n'), /half\.yaml:2:\d+: listeners\[0\]\.plugin: .*not-a-plugin\.mjs: plugin half has no handler\(ctx\) function/);
  });
});
