import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { udpPeer } from '../support/udp.js';
import { runExample } from './spawn-example.js';

describe('examples/udp-echo', () => {
  it('echoes each datagram to the peer that sent it, drops oversized ones, and reports each session at shutdown', async (t) => {
    const example = runExample('udp-echo', ['0']);
    t.after(() => example.stop());
    const port = Number((await example.waitFor(/listening on udp:\/\/127\.0\.0\.1:(\d+)\n/))[1]);
    const a = await udpPeer(port);
    const b = await udpPeer(port);
    t.after(() => Promise.all([a.close(), b.close()]));
    await a.send('from a');
    await b.send('from b');
    await a.send(Buffer.alloc(1473));
    await a.send('again');
    assert.deepEqual((await a.waitFor(2)).map(String), ['from a', 'again']);
    assert.deepEqual((await b.waitFor(1)).map(String), ['from b']);
    await example.stop();
    assert.equal(await example.exited, 0);
    assert.match(example.stdout(), new RegExp(`127\\.0\\.0\\.1:${a.port} closed \\(shutdown\\) after 2 datagrams`));
    assert.match(example.stdout(), new RegExp(`127\\.0\\.0\\.1:${b.port} closed \\(shutdown\\) after 1 datagrams`));
  });
});
