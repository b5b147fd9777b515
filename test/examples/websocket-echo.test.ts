import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { wsConnect, wsRefusal } from '../support/ws-client.js';
import { startServer } from './spawn-example.js';

describe('examples/websocket-echo', () => {
  it('echoes text as text and binary as binary, answers /healthz, refuses other paths, and sends 1001 when stopped', async (t) => {
    const { example, port, line } = await startServer('websocket-echo');
    t.after(() => example.stop());
    assert.match(line, new RegExp(`listening on ws://127\\.0\\.0\\.1:${port}/echo`));
    const peer = await wsConnect(`ws://127.0.0.1:${port}/echo`);
    peer.socket.send('hi there');
    peer.socket.send(Buffer.from([0xca, 0xfe]));
    assert.deepEqual(await peer.received(2), [
      { data: 'hi there', isBinary: false },
      { data: 'cafe', isBinary: true },
    ]);

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.deepEqual([health.status, await health.text()], [200, 'ok\n']);
    assert.equal(await wsRefusal(`ws://127.0.0.1:${port}/chat`), 404);

    const short = await wsConnect(`ws://127.0.0.1:${port}/echo`);
    await short.close(4000);
    await example.waitFor(/closed 4000 \(peer-closed\)\n/);

    example.child.kill('SIGTERM');
    assert.deepEqual(await peer.closed, { code: 1001, reason: 'server shutting down' });
    assert.equal(await example.exited, 0);
    assert.match(example.stdout(), /closed 1001 "server shutting down" \(shutdown\)\n/);
  });
});
