/**
 * The dashboard in a real headless browser (Debian's chromium, driven by
 * playwright-core), under load from two worker processes' worth of listeners.
 * Under CI=true a missing chromium fails the test; elsewhere it is skipped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page, type Route } from 'playwright-core';
import { listen, silentLogger, type Server, type WebSocket } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/metrics/admin-server.js';
import { collectWorkerSnapshot, combineSnapshots } from '../../src/metrics/snapshot.js';
import { portOf, rawConnect } from '../support/net.js';
import { wsConnect, type WsPeer } from '../support/ws-client.js';
import { startLoad, type Load } from './load.js';
import { echoServer, spawnWorker, type WorkerProcess } from './support.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/**
 * The screenshot lands in docs/ only when asked (UPDATE_SCREENSHOTS=1), so a test run never
 * leaves the work tree modified; otherwise it goes to the temp directory and is still checked.
 */
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../../docs/dashboard.png', import.meta.url))
    : join(tmpdir(), `capstan-dashboard-${process.pid}.png`);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CHART_COUNT = 9;

/** The page-side shapes the checks touch (this test compiles without the DOM library). */
interface PageCanvas {
  width: number;
  height: number;
  readonly dataset: Record<string, string | undefined>;
  toDataURL(): string;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}
interface PageElement {
  textContent: string | null;
  readonly style: { display: string };
  getAttribute(name: string): string | null;
  readonly parentElement: PageElement | null;
  querySelector(selector: string): PageElement | null;
}
declare const document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageCanvas> };

const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI === 'true') {
  describe('the live dashboard', () => {
    it('needs chromium, which CI installs', () => {
      assert.fail(`chromium not found at ${CHROMIUM}: .ci/run installs it with apt-get (or set CHROMIUM_PATH)`);
    });
  });
} else {
  describe('the live dashboard', { skip: missing ? `chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)` : false }, () => {
    let servers: Map<string, Server>;
    let worker: WorkerProcess;
    let admin: AdminServer;
    let load: Load;
    let browser: Browser;
    let page: Page;
    let ws: WsPeer;

    before(async () => {
      servers = new Map([
        ['echo', await echoServer('echo')],
        ['chat', await echoServer('chat')],
        ['ws', await listen({ name: 'ws', port: 0, logger: silentLogger, websocket: { handler: { message: (s: WebSocket, data: Buffer) => s.send(data) } } })],
      ]);
      ws = await wsConnect(`ws://127.0.0.1:${portOf(servers.get('ws') as Server)}/`);
      ws.socket.send('counted');
      await ws.received(1);
      worker = await spawnWorker('2', 'echo');
      admin = await startAdminServer({
        port: 0,
        logger: silentLogger,
        source: {
          ready: () => true,
          snapshot: async () => combineSnapshots([collectWorkerSnapshot('1', servers), await worker.snapshot()], false),
        },
      });
      load = await startLoad({ ports: [portOf(servers.get('echo') as Server), portOf(servers.get('chat') as Server), worker.port], connections: 4, burst: 20, maxMs: 90_000 });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
      page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`http://127.0.0.1:${admin.address.port}/`, { timeout: 30_000 });
    });

    after(async () => {
      await browser?.close();
      ws?.socket.terminate();
      await load?.stop();
      await worker?.stop();
      await admin?.close();
      for (const s of servers?.values() ?? []) await s.close({ graceMs: 1_000 });
    });

    /** Waits until every chart has drawn at least `draws` times. */
    async function drawn(draws: number): Promise<void> {
      await page.waitForFunction(
        ([n, count]) => {
          const canvases = Array.from(document.querySelectorAll('canvas'));
          return canvases.length === count && canvases.every((c) => Number(c.dataset.draws ?? 0) >= n);
        },
        [draws, CHART_COUNT] as const,
        { timeout: 30_000, polling: 200 },
      );
    }

    it('draws every chart with data from both workers', async () => {
      await drawn(4);
      const points = await page.$$eval('canvas', (cs) => cs.map((c) => ({ label: c.getAttribute('aria-label'), points: Number((c as unknown as PageCanvas).dataset.points) })));
      for (const p of points) assert.ok(p.points > 0, `${p.label} has points`);
      const workers = await page.$$eval('#workers tr', (rows) => rows.slice(1).map((r) => r.firstElementChild?.textContent));
      assert.deepEqual(workers, ['1', '2']);
      const listeners = await page.$$eval('#listeners tr', (rows) => rows.slice(1).map((r) => r.firstElementChild?.textContent));
      assert.deepEqual(listeners.sort(), ['chat', 'echo', 'ws']);
    });

    it('shows a WebSocket table for the WebSocket listener, and none for a worker without one', async () => {
      const cells = await page.$$eval('#websockets tr', (rows) => rows.map((r) => Array.from(r.children, (c) => (c as unknown as PageElement).textContent)));
      assert.deepEqual(cells.map((r) => r.slice(0, 2)), [
        ['listener', 'open'],
        ['ws', '1'],
      ]);
      assert.equal(await page.$eval('#websockets-section', (el) => (el as unknown as PageElement).style.display), '');
      await page.selectOption('#worker', '2');
      await page.waitForFunction(() => document.querySelector('#websockets-section')?.style.display === 'none', undefined, { timeout: 15_000 });
      await page.selectOption('#worker', '*');
    });

    it('puts coloured lines on the charts, not just axes', async () => {
      const coloured = await page.$eval('canvas[aria-label="Messages per second"]', (el) => {
        const c = el as unknown as PageCanvas;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        // Series colours are saturated; the background, grid and labels are white or grey.
        for (let i = 0; i < d.length; i += 4) if (Math.max(d[i]!, d[i + 1]!, d[i + 2]!) - Math.min(d[i]!, d[i + 1]!, d[i + 2]!) > 80) n++;
        return n;
      });
      assert.ok(coloured > 100, `${coloured} coloured pixels`);
    });

    it('changes the charts as new numbers arrive', async () => {
      const image = () => page.$eval('canvas[aria-label="Messages per second"]', (c) => (c as unknown as PageCanvas).toDataURL());
      const draws = () => page.$eval('canvas[aria-label="Messages per second"]', (c) => Number((c as unknown as PageCanvas).dataset.draws));
      const before = await image();
      const n = await draws();
      await page.waitForFunction((k) => Number(document.querySelector('canvas[aria-label="Messages per second"]')?.getAttribute('data-draws')) >= k, n + 2, { timeout: 30_000 });
      assert.notEqual(await image(), before);
    });

    it('narrows the charts to one listener and to one worker', async () => {
      await page.selectOption('#listener', 'chat');
      await page.waitForFunction(() => document.querySelector('canvas[aria-label="Handler latency"]')?.parentElement?.querySelector('.legend')?.textContent?.includes('p999') === true, undefined, { timeout: 15_000 });
      await page.selectOption('#worker', '2');
      // Worker 2 has no "chat" listener: its connection chart has nothing to draw.
      await page.waitForFunction(() => document.querySelector('canvas[aria-label="Active connections"]')?.getAttribute('data-points') === '0', undefined, { timeout: 15_000 });
      await page.selectOption('#listener', 'echo');
      await page.waitForFunction(() => Number(document.querySelector('canvas[aria-label="Active connections"]')?.getAttribute('data-points')) > 0, undefined, { timeout: 15_000 });
      const rows = await page.$$eval('#listeners tr', (r) => r.length - 1);
      assert.equal(rows, 1, 'worker 2 serves one listener');
    });

    it('paints a fresh page from the server’s history: no "connecting", charts with minutes of data, abnormal closes apart, errors counted, no 404', async () => {
      const chat = portOf(servers.get('chat') as Server);
      // Frames that announce 2 GiB: each connection closes with frame-too-large.
      for (let i = 0; i < 3; i++) {
        const peer = await rawConnect({ host: '127.0.0.1', port: chat });
        peer.socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
        await peer.ended;
        peer.socket.destroy();
      }
      const base = `http://127.0.0.1:${admin.address.port}`;
      const sampled = async () => {
        const reply = (await (await fetch(`${base}/stats/history.json`)).json()) as { samples: { combined: { listeners: Record<string, { closes: Record<string, number> }> } }[] };
        return { count: reply.samples.length, tooLarge: reply.samples.at(-1)?.combined.listeners.chat?.closes['frame-too-large'] ?? 0 };
      };
      for (let i = 0; i < 300; i++) {
        const s = await sampled();
        if (s.count >= 6 && s.tooLarge >= 3) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const fresh = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const failed: string[] = [];
      fresh.on('response', (r) => {
        if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
      });
      // Only the first read of the history is answered: whatever the page draws comes from it, not from later polls.
      const held: Route[] = [];
      let answered = 0;
      await fresh.route(/\/stats\/history\.json/, (route) => (answered++ === 0 ? route.continue() : void held.push(route)));
      try {
        await fresh.goto(`${base}/`, { timeout: 30_000 });
        await fresh.waitForFunction(() => Number(document.querySelector('canvas[aria-label="Messages per second"]')?.getAttribute('data-draws')) >= 1, undefined, { timeout: 30_000 });
        assert.equal(await fresh.$eval('#status', (e) => e.textContent), 'ready');
        const points = await fresh.$eval('canvas[aria-label="Messages per second"]', (c) => Number(c.getAttribute('data-points')));
        assert.ok(points >= 2 * 5, `${points} points on the first paint: five or more rates for in and out`);
        const abnormal = await fresh.$eval('canvas[aria-label="Abnormal closes and refusals per second"]', (c) => c.parentElement?.querySelector('.legend')?.textContent ?? '');
        assert.match(abnormal, /frame-too-large/);
        const normal = await fresh.$eval('canvas[aria-label="Closes per second by reason"]', (c) => c.parentElement?.querySelector('.legend')?.textContent ?? '');
        assert.doesNotMatch(normal, /frame-too-large/, 'abnormal closes have a chart of their own');
        const chatRow = await fresh.$$eval('#listeners tr', (rows) => rows.map((r) => Array.from(r.children).map((c) => (c as { textContent: string | null }).textContent)).find((cells) => cells[0] === 'chat'));
        assert.ok(Number(chatRow?.[8]) >= 3, `the errors column counts the frame-too-large closes: ${JSON.stringify(chatRow)}`);
        assert.match((await fresh.$eval('link[rel="icon"]', (l) => l.getAttribute('href'))) ?? '', /^data:image\/svg\+xml,/);
        assert.deepEqual(failed, []);
      } finally {
        for (const r of held) await r.abort().catch(() => undefined);
        await fresh.close();
      }
    });

    it('says whether a token is missing or was rejected, and draws once the right one is given', async () => {
      const token = 'dashboard-token-0123456789';
      const guarded = await startAdminServer({
        port: 0,
        token,
        logger: silentLogger,
        source: { ready: () => true, snapshot: async () => combineSnapshots([collectWorkerSnapshot('1', servers)], false) },
      });
      const tab = await browser.newPage();
      try {
        const base = `http://127.0.0.1:${guarded.address.port}/`;
        const statusAfter = async (url: string, want: RegExp) => {
          // A new document each time: a change of the fragment alone would keep the last poll's status on screen.
          await tab.goto('about:blank');
          await tab.goto(url, { timeout: 30_000 });
          await tab.waitForFunction((re) => new RegExp(re).test(document.querySelector('#status')?.textContent ?? ''), want.source, { timeout: 30_000, polling: 100 });
          return tab.$eval('#status', (e) => e.textContent ?? '');
        };
        assert.match(await statusAfter(base, /token/), /^token required/);
        assert.match(await statusAfter(`${base}#token=not-the-token-at-all`, /token/), /^token rejected/);
        assert.equal(await statusAfter(`${base}#token=${token}`, /^ready$/), 'ready');
      } finally {
        await tab.close();
        await guarded.close();
      }
    });

    it('takes a screenshot of the dashboard under load (kept in docs/ with UPDATE_SCREENSHOTS=1)', async () => {
      await page.selectOption('#listener', '*');
      await page.selectOption('#worker', '*');
      const draws = await page.$eval('canvas', (c) => Number((c as unknown as PageCanvas).dataset.draws));
      // A few more seconds of history make a chart worth looking at.
      await drawn(Math.max(draws + 2, 8));
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.ok(existsSync(SCREENSHOT) && statSync(SCREENSHOT).size > 10_000, 'a real picture was written');
    });
  });
}
