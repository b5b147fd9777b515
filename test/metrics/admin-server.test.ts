import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCapstanError, silentLogger, type Server } from '../../src/index.js';
import { startAdminServer, type AdminServer, type StatsSource } from '../../src/metrics/admin-server.js';
import type { ServerSnapshot } from '../../src/metrics/snapshot.js';
import { portOf, waitFor } from '../support/net.js';
import { driveEcho, echoServer, localSource } from './support.js';

const TOKEN = 'test-token-7f3a';

describe('the admin endpoint', () => {
  let server: Server;
  let admin: AdminServer;
  let ready = true;
  let base: string;

  before(async () => {
    server = await echoServer('admin-echo');
    admin = await startAdminServer({ port: 0, logger: silentLogger, source: localSource(new Map([['admin-echo', server]]), () => ready) });
    base = `http://127.0.0.1:${admin.address.port}`;
  });

  after(async () => {
    await admin.close();
    await server.close();
  });

  it('binds loopback and reports the port it got', () => {
    assert.equal(admin.address.host, '127.0.0.1');
    assert.ok(admin.address.port > 0);
  });

  it('answers /healthz with ok', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok\n');
  });

  it('answers /readyz with 200 while ready and 503 while draining', async () => {
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    ready = false;
    try {
      const res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 503);
      assert.equal(await res.text(), 'draining\n');
      const snap = (await (await fetch(`${base}/stats.json`)).json()) as ServerSnapshot;
      assert.equal(snap.draining, true);
    } finally {
      ready = true;
    }
  });

  it('serves /stats.json with each worker and the combined listeners', async () => {
    const traffic = await driveEcho(portOf(server), 2, 5, 10);
    await waitFor(() => server.stats().active === 0, 30_000, 'connections to close');
    const res = await fetch(`${base}/stats.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const snap = (await res.json()) as ServerSnapshot;
    assert.equal(snap.workers.length, 1);
    assert.equal(snap.workers[0]?.worker, 'main');
    assert.equal(snap.combined.listeners['admin-echo']?.bytesIn, traffic.bytes);
    assert.equal(snap.combined.listeners['admin-echo']?.accepted, traffic.connections);
  });

  it('serves the dashboard page and its scripts from the package', async () => {
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    assert.match(html, /<script type="module" src="assets\/client\.js">/);
    assert.doesNotMatch(html, /https?:\/\//, 'no asset comes from another host');
    for (const name of ['client', 'chart', 'series', 'format']) {
      const res = await fetch(`${base}/assets/${name}.js`);
      assert.equal(res.status, 200, `${name}.js`);
      assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/);
      assert.doesNotMatch(await res.text(), /sourceMappingURL/);
    }
  });

  it('answers /favicon.ico with the page\'s inline SVG icon rather than a 404', async () => {
    const res = await fetch(`${base}/favicon.ico`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/svg+xml');
    const icon = await res.text();
    assert.match(icon, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    const html = await (await fetch(`${base}/`)).text();
    assert.ok(html.includes(`<link rel="icon" type="image/svg+xml" href="data:image/svg+xml,${encodeURIComponent(icon)}">`), 'the page links the same icon inline');
  });

  it('answers 404 for unknown paths, including files beside the dashboard scripts', async () => {
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/assets/assets.js`)).status, 404);
    assert.equal((await fetch(`${base}/assets/../admin-server.js`)).status, 404);
  });

  it('answers 405 to methods other than GET and HEAD', async () => {
    const res = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  });

  it('answers HEAD with headers and no body', async () => {
    const res = await fetch(`${base}/healthz`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '3');
    assert.equal(await res.text(), '');
  });
});

describe('the admin token', () => {
  let server: Server;
  let admin: AdminServer;
  let base: string;

  before(async () => {
    server = await echoServer('token-echo');
    admin = await startAdminServer({ port: 0, token: TOKEN, logger: silentLogger, source: localSource(new Map([['token-echo', server]])) });
    base = `http://127.0.0.1:${admin.address.port}`;
  });

  after(async () => {
    await admin.close();
    await server.close();
  });

  for (const path of ['/metrics', '/stats.json', '/stats/history.json']) {
    it(`is required on ${path}: none or a wrong one gets 401, the right one 200`, async () => {
      const none = await fetch(`${base}${path}`);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="capstan"', 'no token: the bare challenge');
      const wrong = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${TOKEN}x` } });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="capstan", error="invalid_token"', 'a wrong token is told apart (RFC 6750)');
      assert.match(await wrong.text(), /^the bearer token was rejected/);
      assert.equal((await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${TOKEN.slice(1)}` } })).status, 401);
      assert.equal((await fetch(`${base}${path}`, { headers: { Authorization: TOKEN } })).status, 401);
      assert.equal((await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 200);
    });
  }

  it('is not needed for health checks or the dashboard page, which carry no counters', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/`)).status, 200);
  });
});

describe('admin endpoint failures', () => {
  it('answers 500 when the stats source fails, and keeps serving', async () => {
    let fail = true;
    const source: StatsSource = {
      ready: () => true,
      snapshot: async () => {
        if (fail) throw new Error('worker did not answer');
        return { time: Date.now(), draining: false, workers: [], combined: { listeners: {} } };
      },
    };
    // A history sample in flight when the source recovers would be shared with the next request.
    const admin = await startAdminServer({ port: 0, logger: silentLogger, source, history: false });
    const base = `http://127.0.0.1:${admin.address.port}`;
    try {
      assert.equal((await fetch(`${base}/stats.json`)).status, 500);
      fail = false;
      assert.equal((await fetch(`${base}/stats.json`)).status, 200);
    } finally {
      await admin.close();
    }
  });

  it('rejects a port that is in use with ERR_LISTEN_FAILED', async () => {
    const source: StatsSource = { ready: () => true, snapshot: () => Promise.reject(new Error('unused')) };
    const first = await startAdminServer({ port: 0, logger: silentLogger, source });
    try {
      await assert.rejects(startAdminServer({ port: first.address.port, logger: silentLogger, source }), (err) => isCapstanError(err, 'ERR_LISTEN_FAILED'));
    } finally {
      await first.close();
    }
  });

  it('rejects an invalid port or an empty token with ERR_INVALID_OPTION before binding', async () => {
    const source: StatsSource = { ready: () => true, snapshot: () => Promise.reject(new Error('unused')) };
    await assert.rejects(startAdminServer({ port: 70_000, source }), (err) => isCapstanError(err, 'ERR_INVALID_OPTION'));
    await assert.rejects(startAdminServer({ port: 0, token: '', source }), (err) => isCapstanError(err, 'ERR_INVALID_OPTION'));
  });
});
