/**
 * A plugin's WebSocket hooks under `capstan serve`: `upgrade(req)` and
 * `request(req)` returned by `websocket(ctx)` beside the handler methods, over
 * real sockets to plugin modules this test writes; plain requests shared by
 * path between the endpoints' plugins; and what the checks refuse.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { isCapstanError } from '../../src/errors.js';
import { silentLogger } from '../../src/index.js';
import { Runtime } from '../../src/server/runtime.js';
import { ThreadPools } from '../../src/server/threads.js';
import { wsConnect } from '../support/ws-client.js';
import { configProblems, resolveLines } from './config-support.js';
import { startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-ws-hooks-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

/**
 * Guards /chat with a token (sync hook) and serves the page and /healthz. It
 * also answers /slow, another plugin's endpoint, to show that a path's own
 * endpoint is asked first.
 */
const GUARD = `
const PAGE = '<!doctype html><title>chat</title><script>new WebSocket("ws://" + location.host + "/chat?token=sesame")</script>';
export default {
  name: 'guard',
  websocket: (ctx) => ({
    upgrade(req) {
      const q = new URLSearchParams(req.query);
      if (q.get('throw') !== null) throw new Error('the guard broke');
      if (req.headers['authorization'] !== 'Bearer sesame' && q.get('token') !== 'sesame') {
        return { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="chat"' }, body: 'a token, please\\n' };
      }
      return { data: { user: q.get('user') ?? 'anon', endpoint: ctx.endpoint.path, from: req.remoteAddress }, headers: { 'X-Guard': 'passed' } };
    },
    request(req) {
      if (req.path === '/') return { headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: PAGE };
      if (req.path === '/healthz') return { body: 'ok\\n' };
      if (req.path === '/slow') return { body: 'the guard answered /slow\\n' };
      if (req.path === '/boom') throw new Error('the page broke');
    },
    open(ws) { ws.send(JSON.stringify(ws.data)); },
    message(ws, data) { ws.send(ws.data.user + ': ' + data); },
  }),
};
`;

/** An async upgrade hook and an async request hook, on /slow. */
const SLOW = `
const later = (ms) => new Promise((r) => setTimeout(r, ms));
export default {
  name: 'slow',
  websocket: () => ({
    async upgrade(req) {
      await later(20);
      if (req.query === 'deny') return { status: 403, body: 'not today\\n' };
      if (req.query === 'reject') throw new Error('the slow guard broke');
      return { data: 'checked slowly' };
    },
    async request(req) {
      await later(10);
      if (req.path === '/slow' || req.path === '/slow-status') return { status: 200, headers: { 'X-From': 'slow' }, body: 'slow answered ' + req.path + '\\n' };
    },
    open(ws) { ws.send(ws.data); },
  }),
};
`;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Opens a WebSocket to `url` and resolves with the socket once open, or with the HTTP answer when refused. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<{ socket: WebSocket; headers: Record<string, string | string[] | undefined> } | Answer> {
  const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 30_000, headers });
  return new Promise((resolve, reject) => {
    let upgraded: Record<string, string | string[] | undefined> = {};
    socket.once('upgrade', (res) => (upgraded = res.headers));
    socket.once('open', () => resolve({ socket, headers: upgraded }));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        socket.terminate();
      });
    });
    socket.once('error', reject);
  });
}

async function refused(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await upgrade(url, headers);
  if ('socket' in r) {
    r.socket.terminate();
    assert.fail(`${url} accepted the upgrade`);
  }
  return r;
}

async function get(url: string): Promise<Answer> {
  const res = await fetch(url);
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

interface WsListenerStats {
  handlerErrors: number;
  websocket: { handshakesAccepted: number; handshakesRefused: Record<string, number>; httpRequests: number };
}

async function listenerStats(run: CliRun, name: string): Promise<WsListenerStats> {
  const stats = (await (await fetch(`${run.adminUrl()}stats.json`)).json()) as { combined: { listeners: Record<string, WsListenerStats> } };
  const l = stats.combined.listeners[name];
  assert.ok(l !== undefined, `no stats for ${name}`);
  return l;
}

describe("a plugin's WebSocket hooks under capstan serve", () => {
  it('authenticate upgrades, serve pages by path, and count the hooks that throw', async () => {
    tmp.write('guard.mjs', GUARD);
    tmp.write('slow.mjs', SLOW);
    const file = tmp.write(
      'hooks.yaml',
      [
        'listeners:',
        '  - name: ws',
        '    port: 0',
        '    websocket:',
        '      endpoints:',
        '        - { path: /chat, plugin: ./guard.mjs }',
        '        - { path: /slow, plugin: ./slow.mjs }',
        '        - { path: /echo, plugin: echo }',
        '  - { name: plain, port: 0, websocket: { endpoints: [{ path: "*", plugin: echo }] } }',
        'admin: { port: 0 }',
      ].join('\n'),
    );
    const run = await startServe(['--config', file]);
    runs.push(run);
    const http = `http://127.0.0.1:${run.listeners().get('ws')?.port}`;
    const ws = http.replace('http:', 'ws:');

    // The sync upgrade hook: refused without the token, with the plugin's status, headers and body.
    const noToken = await refused(`${ws}/chat`);
    assert.equal(noToken.status, 401);
    assert.equal(noToken.headers['www-authenticate'], 'Bearer realm="chat"');
    assert.equal(noToken.headers['connection'], 'close');
    assert.equal(noToken.body, 'a token, please\n');

    // Accepted with it: ws.data is what the hook returned, and the hook's headers are on the 101.
    const ok = await upgrade(`${ws}/chat?user=ann`, { Authorization: 'Bearer sesame' });
    assert.ok('socket' in ok);
    assert.equal(ok.headers['x-guard'], 'passed');
    ok.socket.close();
    const ann = await wsConnect(`${ws}/chat?token=sesame&user=ann`);
    ann.socket.send('hi');
    const [hello, reply] = await ann.received(2);
    assert.deepEqual(JSON.parse(hello?.data ?? ''), { user: 'ann', endpoint: '/chat', from: '127.0.0.1' });
    assert.equal(reply?.data, 'ann: hi');
    await ann.close();

    // The async upgrade hook: refuses, accepts with data, and a rejection is a 500.
    assert.equal((await refused(`${ws}/slow?deny`)).status, 403);
    const slow = await wsConnect(`${ws}/slow`);
    assert.deepEqual(await slow.received(1), [{ data: 'checked slowly', isBinary: false }]);
    await slow.close();
    assert.equal((await refused(`${ws}/slow?reject`)).status, 500);
    assert.equal((await refused(`${ws}/chat?throw`)).status, 500);

    // The endpoint without hooks: no token needed.
    const echo = await wsConnect(`${ws}/echo`);
    echo.socket.send('plain');
    assert.deepEqual(await echo.received(1), [{ data: 'plain', isBinary: false }]);
    await echo.close();

    // Plain requests: the page and the health check from guard's hook.
    const page = await get(`${http}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(page.body, /^<!doctype html>.*\/chat\?token=sesame/);
    const health = await get(`${http}/healthz`);
    assert.deepEqual([health.status, health.body], [200, 'ok\n']);
    // /slow is slow's endpoint, so its (async) hook is asked before guard's, which would answer too.
    const own = await get(`${http}/slow`);
    assert.deepEqual([own.status, own.headers['x-from'], own.body], [200, 'slow', 'slow answered /slow\n']);
    // A path no endpoint serves goes to the hooks in config order: guard declines, slow answers.
    assert.equal((await get(`${http}/slow-status`)).body, 'slow answered /slow-status\n');
    // Nobody answers: 426, as without hooks; a hook that throws: 500.
    const nobody = await get(`${http}/elsewhere`);
    assert.deepEqual([nobody.status, nobody.headers['upgrade']], [426, 'websocket']);
    assert.equal((await get(`${http}/boom`)).status, 500);

    // The listener with a hookless plugin behaves as before: 426 for a plain request, any path upgrades.
    const plainHttp = `http://127.0.0.1:${run.listeners().get('plain')?.port}`;
    const before = await get(`${plainHttp}/`);
    assert.deepEqual([before.status, before.headers['sec-websocket-version']], [426, '13']);
    const plain = await wsConnect(`${plainHttp.replace('http:', 'ws:')}/anything`);
    await plain.close();

    const s = await listenerStats(run, 'ws');
    assert.equal(s.handlerErrors, 3, 'the sync and async upgrade hooks and the request hook that threw');
    assert.deepEqual(s.websocket.handshakesRefused, { '401': 1, '403': 1, '426': 1, '500': 3 });
    assert.equal(s.websocket.handshakesAccepted, 4);
    assert.equal(s.websocket.httpRequests, 4, '/, /healthz, /slow and /slow-status');
    assert.equal((await listenerStats(run, 'plain')).handlerErrors, 0);
    const threw = run.logs().filter((r) => /^handler\.\w+ threw/.test(String(r.msg))).map((r) => r.method);
    assert.ok(threw.includes('upgrade') && threw.includes('request'), `logged: ${JSON.stringify(threw)}`);

    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });
});

describe("the checks on a plugin's WebSocket hooks", () => {
  it('refuse upgrade and request at the top level of a plugin, at its key', async () => {
    tmp.write('top-level.mjs', "export default { name: 'top', upgrade() {}, websocket: () => ({}) };\n");
    const lines = await configProblems(tmp.dir, ['listeners:', '  - { name: a, port: 0, websocket: { endpoints: [{ path: /x, plugin: ./top-level.mjs }] } }']);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:2:\d+: listeners\[0\]\.websocket\.endpoints\[0\]\.plugin: .*top-level\.mjs: plugin top: upgrade at the top level of a plugin is never called; return upgrade\(req\) from websocket\(ctx\), beside open and message/);
  });

  it('fail the start, naming the endpoint and plugin, when websocket(ctx) returns a hook that is not a function', async (t) => {
    tmp.write('not-a-hook.mjs', "export default { name: 'odd', websocket: () => ({ request: 'index.html' }) };\n");
    const config = await resolveLines(tmp.dir, ['listeners:', '  - { name: a, port: 0, websocket: { endpoints: [{ path: /x, plugin: ./not-a-hook.mjs }] } }']);
    const threads = new ThreadPools({});
    t.after(() => threads.close());
    const runtime = new Runtime({ worker: 'main', logger: silentLogger, threads, configDir: tmp.dir });
    await assert.rejects(runtime.start(config.listeners), (err: unknown) => {
      assert.ok(isCapstanError(err, 'ERR_PLUGIN'), String(err));
      assert.equal(err.message, "listener a, endpoint /x: plugin odd's websocket(ctx) returned request as a string, not a function");
      return true;
    });
    await runtime.stop({ graceMs: 0, quietMs: 1 });
  });
});
