import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runExample, serveExampleForSuite, startServer } from './spawn-example.js';

describe('examples/client', () => {
  const port = serveExampleForSuite('length-prefixed-echo');

  it('sends the asked number of messages to the length-prefixed echo, prints each round trip and exits 0', async (t) => {
    const client = runExample('client', [String(port()), '3']);
    t.after(() => client.stop());
    assert.equal(await client.exited, 0);
    const trips = client.stdout().trim().split('\n');
    assert.equal(trips.length, 3);
    trips.forEach((line, i) => assert.match(line, new RegExp(`^round trip ${i + 1}/3: \\d+ µs$`)));
  });

  it('says it could not connect and exits 1, without a stack trace, when no server listens', async (t) => {
    // The echo server's port once it is gone: nothing listens there any more.
    const gone = await startServer('length-prefixed-echo');
    await gone.example.stop();
    const client = runExample('client', [String(gone.port), '1']);
    t.after(() => client.stop());
    assert.equal(await client.exited, 1);
    assert.match(client.stderr(), /ERR_CONNECT_FAILED: /);
    assert.doesNotMatch(client.stderr(), /\n\s+at /, 'no stack trace');
  });
});
