import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../src/load/run.js';
import { capstanServer, delayingServer, netServer, type Answer, type Fixture } from './servers.js';

describe('load client request mode', () => {
  const fixtures: Fixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.close();
  });

  /** A Capstan server that keeps every request it reads, as text, and answers as `answer` says. */
  async function server(framing: string, answer: Answer): Promise<Fixture & { frames: number; seen: string[] }> {
    const seen: string[] = [];
    const respond = typeof answer === 'function' ? answer : () => undefined;
    const f = await capstanServer(framing, (frame) => {
      seen.push(frame.toString());
      return respond(frame);
    });
    fixtures.push(f);
    return Object.assign(f, { seen });
  }

  it('sends each rendered request once, pipelined, and counts and times one reply for each', async () => {
    const s = await server('line', (f) => `OK ${f.toString()}`);
    const r = await runLoad({
      target: s.target,
      mode: 'request',
      requests: ['GET k{{key:100}}', 'SET k{{key:100}} {{n}} from {{conn}}'],
      connections: 3,
      depth: 8,
      messages: 900,
      expectPrefix: 'OK ',
    });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.framing, 'line', 'request mode frames lines unless told otherwise');
    assert.equal(r.requests, 2);
    assert.equal(r.sent.msgs, 900);
    assert.equal(r.received.msgs, 900);
    assert.equal(r.latencyUs.count, 900, 'one latency per request');
    assert.equal(s.frames, 900);
    const gets = s.seen.filter((x) => /^GET k\d\d$/.test(x));
    const sets = s.seen.map((x) => /^SET k\d\d (\d+) from ([012])$/.exec(x)).filter((m) => m !== null);
    assert.equal(gets.length, 450);
    assert.equal(sets.length, 450);
    assert.equal(new Set(sets.map((m) => m[1])).size, 450, 'no message number is used twice');
    assert.ok(sets.every((m) => Number(m[1]) < 900));
  });

  it('matches pipelined replies to requests in order', async () => {
    // Only the reply to x3, the fourth message, is wrong; with 8 in flight the error must name message 4.
    const s = await server('line', (f) => (f.toString() === 'x3' ? 'ERR' : 'OK'));
    const r = await runLoad({ target: s.target, mode: 'request', requests: ['x{{n}}'], connections: 1, depth: 8, messages: 40, expect: 'OK' });
    assert.equal(r.errors.mismatch, 1, JSON.stringify(r.errorSamples));
    assert.equal(r.errors.total, 1);
    assert.equal(r.errorSamples.mismatch, 'connection 1: reply to message 4 ("x{{n}}") was "ERR", expected "OK"');
    assert.equal(r.received.msgs, 40, 'a wrong reply is still a reply: the connection goes on');
  });

  it('counts each reply that fails an exact, prefix or pattern check as a mismatch', async () => {
    const s = await server('lp4', (f) => (f.toString().startsWith('bad') ? 'ERR no' : 'OK yes'));
    const base = { target: s.target, mode: 'request', framing: 'lp4', requests: ['good {{n}}', 'bad {{n}}'], connections: 2, depth: 2, messages: 200 } as const;
    const exact = await runLoad({ ...base, expect: 'OK yes' });
    assert.equal(exact.errors.mismatch, 100, JSON.stringify(exact.errorSamples));
    assert.match(exact.errorSamples.mismatch ?? '', /\("bad \{\{n\}\}"\) was "ERR no", expected "OK yes"$/);
    const prefix = await runLoad({ ...base, expectPrefix: 'ERR' });
    assert.equal(prefix.errors.mismatch, 100);
    assert.match(prefix.errorSamples.mismatch ?? '', /\("good \{\{n\}\}"\) was "OK yes", expected it to start with "ERR"$/);
    const pattern = await runLoad({ ...base, expectMatch: /^(OK|ERR) (yes|no)$/g });
    assert.equal(pattern.errors.total, 0, JSON.stringify(pattern.errorSamples));
    const none = await runLoad({ ...base, expectMatch: '^OK' });
    assert.equal(none.errors.mismatch, 100);
    assert.match(none.errorSamples.mismatch ?? '', /expected it to match \/\^OK\/$/);
    assert.equal(none.received.msgs, 200);
  });

  it('fails a connection whose server answers one request twice', async () => {
    const s = await netServer((socket) => socket.write('A\r\nB\r\n'));
    fixtures.push(s);
    const r = await runLoad({ target: s.target, mode: 'request', framing: 'crlf', requests: ['Q'], connections: 2, depth: 1, messages: 10 });
    assert.equal(r.errors.mismatch, 2, JSON.stringify(r.errorSamples));
    assert.match(r.errorSamples.mismatch ?? '', /received a reply frame of 1 bytes with no message in flight/);
  });

  it('times out requests left unanswered', async () => {
    const s = await server('line', (f) => (f.toString() === 'ping 1' ? undefined : 'pong'));
    const r = await runLoad({ target: s.target, mode: 'request', requests: ['ping {{n}}'], connections: 1, depth: 4, messages: 8, replyTimeoutMs: 300 });
    assert.equal(r.errors.timeout, 1, JSON.stringify(r.errorSamples));
    assert.match(r.errorSamples.timeout ?? '', /no reply within 300 ms/);
  });

  it('keeps a fixed rate and measures each request from its scheduled send', async () => {
    // Each request comes back 50 ms later (an echo is a reply too): no latency may be below that.
    const late = await delayingServer(50);
    fixtures.push(late);
    const r = await runLoad({ target: late.target, mode: 'request', requests: ['t{{n}}'], connections: 2, rate: 100, durationSec: 0.5, expectPrefix: 't' });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, r.sent.msgs);
    assert.ok(r.sent.msgs > 0 && r.sent.msgs <= 2 * 100 * 0.5 + 2, `${r.sent.msgs} sent at 100/s per connection for 0.5 s`);
    assert.equal(r.latencyUs.count, r.received.msgs);
    assert.ok(r.latencyUs.p50 >= 50_000, JSON.stringify(r.latencyUs));
  });

  it('numbers messages across worker processes so that no two share {{n}}', async () => {
    const s = await server('line', () => 'ok');
    const r = await runLoad({ target: s.target, mode: 'request', requests: ['n={{n}}'], connections: 4, workers: 2, depth: 4, messages: 400, expect: 'ok' });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 400);
    assert.equal(r.latencyUs.count, 400);
    assert.equal(new Set(s.seen).size, 400);
  });

  it('reads requests from a file: lines for line framing, framed requests otherwise', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-requests-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'lines.txt'), 'PING\r\nECHO {{conn}}\n');
    const text = await server('line', () => '+');
    const r1 = await runLoad({ target: text.target, mode: 'request', requestsFile: join(dir, 'lines.txt'), connections: 1, messages: 4, expect: '+' });
    assert.equal(r1.errors.total, 0, JSON.stringify(r1.errorSamples));
    assert.deepEqual(text.seen, ['PING', 'ECHO 0', 'PING', 'ECHO 0']);
    const frame = (body: string): Buffer => Buffer.concat([Buffer.from([0, body.length]), Buffer.from(body)]);
    writeFileSync(join(dir, 'frames.bin'), Buffer.concat([frame('a\nb'), frame('{{key:10}}')]));
    const binary = await server('lp2', () => '+');
    const r2 = await runLoad({ target: binary.target, mode: 'request', framing: 'lp2', requests: ['first'], requestsFile: join(dir, 'frames.bin'), connections: 1, messages: 3 });
    assert.equal(r2.errors.total, 0, JSON.stringify(r2.errorSamples));
    assert.equal(r2.requests, 3);
    assert.deepEqual(binary.seen.slice(0, 2), ['first', 'a\nb']);
    assert.match(binary.seen[2] ?? '', /^\d$/);
  });

  it('refuses options that cannot make a request run before connecting anywhere', async () => {
    const target = 'tcp://127.0.0.1:1';
    await assert.rejects(runLoad({ target, mode: 'request' }), { code: 'ERR_INVALID_OPTION', path: 'requests' });
    await assert.rejects(runLoad({ target, mode: 'request', framing: 'raw', requests: ['x'] }), { path: 'framing', message: /marks where each reply ends/ });
    await assert.rejects(runLoad({ target, mode: 'echo', requests: ['x'] }), { path: 'requests', message: /left out unless mode is request/ });
    await assert.rejects(runLoad({ target, mode: 'request', requests: ['x'], expect: 'a', expectMatch: 'b' }), { path: 'expectMatch', message: /one check per run/ });
    await assert.rejects(runLoad({ target, mode: 'request', requests: ['x'], expectMatch: '(' }), { path: 'expectMatch' });
    await assert.rejects(runLoad({ target, mode: 'request', requests: ['x{{y}}'] }), { path: 'requests', message: /unknown placeholder/ });
    await assert.rejects(runLoad({ target, mode: 'request', requestsFile: join(tmpdir(), `capstan-none-${process.pid}`) }), { path: 'requestsFile', message: /cannot read/ });
    // Echo-mode options a request run would otherwise ignore without a word.
    await assert.rejects(runLoad({ target, mode: 'request', requests: ['x'], size: 64 }), { path: 'size', message: /left out in mode request/ });
    await assert.rejects(runLoad({ target, mode: 'request', requests: ['x'], payload: 'ascii' }), { path: 'payload', message: /left out in mode request/ });
    await assert.rejects(runLoad({ target, mode: 'request', requests: ['x'], verify: 'frames' }), { path: 'verify', message: /expect, expectPrefix or expectMatch/ });
  });
});
