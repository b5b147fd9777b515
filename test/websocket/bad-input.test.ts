/**
 * Bad input the conformance and handshake suites do not already send: keys
 * that look almost right, fragment chains that never end (empty fragments add
 * no bytes, so only maxFragments stops them), and arbitrary frames in
 * arbitrary chunks. Each closes only its own connection, with a typed reason.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { listen, silentLogger, websocket, type CloseReason, type Server } from '../../src/index.js';
import { isValidCloseCode } from '../../src/websocket/frame.js';
import { rawConnect, portOf, waitFor as until } from '../support/net.js';
import { expectedAccept, frame, statusOf, upgradeRequest, waitFor, wsConnect, type WsPeer } from './support.js';

const MAX_FRAGMENTS = 1024;

describe('bad input to a WebSocket server', () => {
  let server: Server;
  let port: number;
  const closes: Array<{ code: number; cause: CloseReason }> = [];
  const ws = websocket({
    path: '/',
    maxFragments: MAX_FRAGMENTS,
    maxMessageBytes: 64 * 1024,
    handler: {
      message: (s, data, isBinary) => void s.send(data, isBinary),
      close: (_s, code, _reason, cause) => void closes.push({ code, cause }),
    },
  });
  before(async () => {
    server = await listen({ port: 0, logger: silentLogger, websocket: ws });
    port = portOf(server);
  });
  after(async () => {
    await server.close({ graceMs: 1_000 });
  });

  /** The next close the handler saw (each test takes its own, so none is left for the next). */
  async function nextClose(): Promise<{ code: number; cause: CloseReason }> {
    await until(() => closes.length > 0, 10_000, 'a close');
    return closes.shift() as { code: number; cause: CloseReason };
  }

  async function upgradeStatus(key: string): Promise<{ status: number; response: string }> {
    const peer = await rawConnect({ port, host: '127.0.0.1', allowHalfOpen: false });
    peer.socket.write(upgradeRequest('/', { 'Sec-WebSocket-Key': key }));
    const got = await waitFor(peer, (b) => b.includes('\r\n\r\n'));
    peer.socket.destroy();
    const response = got.toString('latin1');
    return { status: statusOf(response), response };
  }

  const badKeys: Array<[string, string]> = [
    ['16 bytes whose last base64 digit has bits past the 128th set', 'dGhlIHNhbXBsZSBub25jZR=='],
    ['16 bytes without the padding', 'dGhlIHNhbXBsZSBub25jZQ'],
    ['a character outside base64', 'dGhlIHNhbXBsZSBub25j*Q=='],
    ['24 characters that decode to 17 bytes', 'dGhlIHNhbXBsZSBub25jZQA='],
    ['32 bytes of base64', 'dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=='],
    ['an empty value', ''],
  ];
  for (const [what, key] of badKeys) {
    it(`answers a Sec-WebSocket-Key of ${what} with 400`, async () => {
      const { status, response } = await upgradeStatus(key);
      assert.equal(status, 400, response);
      assert.match(response, /Sec-WebSocket-Key/);
    });
  }

  it('accepts a key with whitespace around it, which HTTP allows, and answers for the key without it', async () => {
    const { status, response } = await upgradeStatus('  dGhlIHNhbXBsZSBub25jZQ==\t');
    assert.equal(status, 101, response);
    assert.ok(response.includes(`Sec-WebSocket-Accept: ${expectedAccept()}\r\n`));
    assert.equal((await nextClose()).code, 1006);
  });

  it('delivers a message of exactly maxFragments fragments, empty ones among them', async () => {
    const c = await wsConnect(port);
    const parts = Array.from({ length: MAX_FRAGMENTS }, (_, i) => frame({ op: i === 0 ? 2 : 0, fin: i === MAX_FRAGMENTS - 1, payload: i % 2 === 0 ? 'x' : '' }));
    c.send(...parts);
    const [echo] = await c.frames(1);
    assert.equal(echo?.op, 2);
    assert.equal(echo?.payload.toString(), 'x'.repeat(MAX_FRAGMENTS / 2));
    c.peer.socket.destroy();
    assert.equal((await nextClose()).code, 1006);
  });

  it('ends a chain of empty fragments at maxFragments, answering the pings inside it in order until then', async () => {
    const c = await wsConnect(port);
    const chain: Buffer[] = [frame({ op: 2, fin: false, payload: 'a' })];
    // Twice the bound: a chain that, unbounded, would hold the message open for ever at no cost in bytes.
    for (let i = 0; i < 2 * MAX_FRAGMENTS; i++) chain.push(frame({ op: 0, fin: false }), frame({ op: 9, payload: String(i) }));
    c.send(...chain);
    const got = await c.frames(MAX_FRAGMENTS + 2);
    const close = got.findIndex((f) => f.op === 8);
    assert.ok(close > 0, 'closed');
    assert.equal(got[close]?.payload.readUInt16BE(0), 1009);
    const pongs = got.slice(0, close);
    assert.ok(pongs.every((f, i) => f.op === 10 && f.payload.toString() === String(i)), 'pongs in order, nothing else');
    // The first frame and the continuations up to the bound are fine; the one past it is not.
    assert.equal(pongs.length, MAX_FRAGMENTS - 1);
    assert.equal(await c.peer.ended, 'end');
    assert.deepEqual(await nextClose(), { code: 1009, cause: 'frame-too-large' });
  });

  it('survives arbitrary frames in arbitrary chunks: each connection ends once with a valid code and a typed reason, and a bystander keeps echoing', async () => {
    const bystander = await wsConnect(port);
    let bystanderSeen = 0;
    const echo = async (c: WsPeer, text: string): Promise<void> => {
      c.send(frame({ op: 1, payload: text }));
      const all = await c.frames(bystanderSeen + 1);
      bystanderSeen = all.length;
      assert.equal(all[all.length - 1]?.payload.toString(), text);
    };
    const spec = fc.record({
      op: fc.oneof(fc.constantFrom(0, 1, 2, 8, 9, 10), fc.integer({ min: 0, max: 15 })),
      fin: fc.boolean(),
      rsv: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(0x10, 0x20, 0x40) }),
      mask: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      payload: fc.uint8Array({ maxLength: 300 }),
    });
    const noise = fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }) }, { weight: 5, arbitrary: spec.map((s) => new Uint8Array(frame({ ...s, payload: Buffer.from(s.payload) }))) });
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(noise, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }), async (parts, cuts) => {
        runs++;
        const before = closes.length;
        const c = await wsConnect(port);
        const bytes = Buffer.concat(parts.map((p) => Buffer.from(p)));
        for (let at = 0, k = 0; at < bytes.length; k++) {
          const n = cuts[k % cuts.length] as number;
          c.peer.socket.write(bytes.subarray(at, at + n));
          at += n;
          await new Promise((r) => setImmediate(r));
        }
        // Whatever the server made of it, our side ends now; the server must let go.
        c.peer.socket.end();
        await until(() => closes.length === before + 1, 10_000, 'the close of the noisy connection');
        const closed = closes[before] as { code: number; cause: CloseReason };
        assert.ok(closed.code === 1005 || closed.code === 1006 || isValidCloseCode(closed.code), `close code ${closed.code}`);
        const sent = (await c.frames(0, 0)).filter((f) => f.op === 8);
        for (const f of sent) if (f.payload.length >= 2) assert.ok(isValidCloseCode(f.payload.readUInt16BE(0)), `the server sent close code ${f.payload.readUInt16BE(0)}`);
        assert.ok(sent.length <= 1, 'one close frame at most');
        c.peer.socket.destroy();
        if (runs % 10 === 0) await echo(bystander, `still here ${runs}`);
      }),
      { numRuns: 60 },
    );
    await echo(bystander, 'after all');
    await until(() => server.connectionCount === 1, 10_000, 'only the bystander to be left');
    bystander.peer.socket.destroy();
    await until(() => server.connectionCount === 0, 10_000, 'the bystander to go');
    closes.length = 0;
  });
});
