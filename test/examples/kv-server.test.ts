import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rawConnect } from '../support/net.js';
import { runCli } from '../server/support.js';
import { serveExampleForSuite } from './spawn-example.js';

/** Runs `capstan load` to the end and reads its JSON result. */
async function load(args: string[]): Promise<{ code: number | null; result: Record<string, unknown> & { errors: Record<string, number> }; stderr: string }> {
  const run = runCli(['load', ...args, '--json', '-q']);
  const { code } = await run.exited;
  const stderr = run.err.join('\n');
  const json = run.out.find((l) => l.startsWith('{'));
  assert.ok(json !== undefined, `no JSON result; stderr: ${stderr}`);
  return { code, result: JSON.parse(json), stderr };
}

describe('examples/kv-server', () => {
  const port = serveExampleForSuite('kv-server');

  it('answers SET, GET and DEL like a small Redis, and ERR to anything else without closing', async () => {
    const peer = await rawConnect({ port: port() });
    peer.socket.write('SET greeting hello world\r\nGET greeting\nGET nothing\r\nDEL greeting\r\nDEL greeting\r\nGET\r\nFLY away\r\nget greeting\r\n');
    const expected = ['OK', 'hello world', '(nil)', '1', '0', "ERR wrong number of arguments for 'GET' (GET key)", "ERR unknown command 'FLY'", '(nil)'];
    const want = expected.map((l) => `${l}\r\n`).join('');
    assert.equal((await peer.waitBytes(want.length)).toString(), want);
    peer.socket.destroy();
  });

  it('carries a capstan load --mode request run whose every reply passes --expect-match', async () => {
    const { code, result, stderr } = await load([
      `tcp://127.0.0.1:${port()}`,
      '--mode', 'request',
      '--request', 'SET key{{key:1000}} v{{n}}',
      '--request', 'GET key{{key:1000}}',
      '--expect-match', '^(OK|v[0-9]+|\\(nil\\))$',
      '-c', '4', '--depth', '4', '-n', '2000',
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(result.errors.total, 0, JSON.stringify(result.errorSamples));
    assert.equal((result.received as { msgs: number }).msgs, 2000);
    assert.ok(result.msgsPerSec as number > 0);
  });

  it('fails a load run whose --expect the replies do not meet, and says which reply', async () => {
    const { code, result, stderr } = await load([`tcp://127.0.0.1:${port()}`, '--mode', 'request', '--request', 'GET missing{{n}}', '--expect', 'OK', '-c', '2', '-n', '50']);
    assert.equal(code, 1);
    assert.equal(result.errors.mismatch, 50);
    assert.match(stderr, /FAIL: 50 errors \(mismatch 50\)/);
    assert.match(stderr, /mismatch: connection \d: reply to message 1 \("GET missing\{\{n\}\}"\) was "\(nil\)", expected "OK"/);
  });
});
