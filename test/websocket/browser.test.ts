/**
 * Interop with a browser: Debian's chromium (driven by playwright-core) loads
 * a page from the server's `request` hook, and the page echoes text and
 * binary (ArrayBuffer) messages of every length form through Capstan,
 * checking each echo, then closes with a code and reason.
 * Under CI=true a missing chromium fails the test; elsewhere it is skipped.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { listen, silentLogger, websocket, type CloseReason, type Server, type WebSocketServerOptions } from '../../src/index.js';
import { CHROMIUM, CHROMIUM_ARGS as ARGS, describeInChromium } from '../support/chromium.js';
import { portOf, waitFor } from '../support/net.js';


/**
 * One run of the page per variant. permessage-deflate is a setting of the
 * endpoint: the "on" variant is one more line here, with `perMessageDeflate: true`
 * and an `extensions` pattern of /^permessage-deflate/.
 */
const VARIANTS: Array<{ name: string; endpoint: Partial<WebSocketServerOptions>; extensions: RegExp }> = [
  { name: 'permessage-deflate off', endpoint: {}, extensions: /^$/ },
  // Chromium offers permessage-deflate with client_max_window_bits: each window kept, both ways.
  { name: 'permessage-deflate on', endpoint: { perMessageDeflate: true }, extensions: /^permessage-deflate/ },
  { name: 'permessage-deflate without context takeover', endpoint: { perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 } }, extensions: /^permessage-deflate; server_no_context_takeover; client_no_context_takeover/ },
];

/** The page: echoes every message kind through the server and reports what it saw. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>capstan websocket echo</title>
<script>
const pattern = (n, seed) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255; return b; };
const texts = ['', 'hello', 'héllo €uro 𝄞', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65535), '€'.repeat(30000) + '𝄞'];
const sizes = [0, 1, 125, 126, 65535, 65536, 300000];
const sent = [...texts.map((t) => ({ text: t })), ...sizes.map((n, i) => ({ bytes: pattern(n, i) }))];
window.result = null;
const ws = new WebSocket('ws://' + location.host + '/echo', ['echo.v1']);
ws.binaryType = 'arraybuffer';
const mismatches = [];
let checked = 0;
const done = (extra) => { window.result = { extensions: ws.extensions, protocol: ws.protocol, checked, mismatches, ...extra }; };
ws.onopen = () => { for (const m of sent) ws.send(m.text !== undefined ? m.text : m.bytes); };
ws.onmessage = (e) => {
  const want = sent[checked++];
  if (want.text !== undefined) {
    if (typeof e.data !== 'string' || e.data !== want.text) mismatches.push({ at: checked - 1, kind: 'text', got: typeof e.data === 'string' ? e.data.length : 'binary' });
  } else {
    const got = e.data instanceof ArrayBuffer ? new Uint8Array(e.data) : null;
    if (got === null || got.length !== want.bytes.length || got.some((b, i) => b !== want.bytes[i])) mismatches.push({ at: checked - 1, kind: 'binary', got: got === null ? typeof e.data : got.length });
  }
  if (checked === sent.length) ws.close(1000, 'done');
};
ws.onclose = (e) => done({ closeCode: e.code, closeReason: e.reason, wasClean: e.wasClean });
ws.onerror = () => mismatches.push({ kind: 'error' });
</script>
<p>echo</p>
`;
const MESSAGES = 14;

describeInChromium('chromium against the WebSocket server', () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  });
  after(async () => {
    await browser?.close();
  });

  for (const variant of VARIANTS) {
    it(`loads the page from the request hook and echoes text and ArrayBuffer messages of every length form, ${variant.name}`, async () => {
      const received: boolean[] = [];
      const closes: Array<{ code: number; reason: string; cause: CloseReason }> = [];
      const ws = websocket({
        path: '/echo',
        protocols: ['echo.v1'],
        ...variant.endpoint,
        handler: {
          message(s, data, isBinary) {
            received.push(isBinary);
            s.send(data, isBinary);
          },
          close: (_s, code, reason, cause) => void closes.push({ code, reason, cause }),
        },
        request: (req) => (req.path === '/' ? { headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: PAGE } : { status: 404 }),
      });
      const server: Server = await listen({ port: 0, logger: silentLogger, websocket: ws });
      const page = await browser.newPage();
      try {
        await page.goto(`http://127.0.0.1:${portOf(server)}/`, { timeout: 30_000 });
        await page.waitForFunction('window.result !== null', undefined, { timeout: 60_000 });
        const result = (await page.evaluate('window.result')) as {
          extensions: string;
          protocol: string;
          checked: number;
          mismatches: unknown[];
          closeCode: number;
          closeReason: string;
          wasClean: boolean;
        };
        assert.deepEqual(result.mismatches, []);
        assert.equal(result.checked, MESSAGES);
        assert.equal(result.protocol, 'echo.v1');
        assert.match(result.extensions, variant.extensions);
        // The server answers a close with its code alone (RFC 6455 §5.5.1 leaves the reason to it).
        assert.deepEqual([result.closeCode, result.closeReason, result.wasClean], [1000, '', true]);
        // The server saw seven text and seven binary messages, and the browser's close.
        assert.deepEqual(received, [...Array(7).fill(false), ...Array(7).fill(true)]);
        await waitFor(() => closes.length === 1, 10_000, 'the close on the server');
        assert.deepEqual(closes, [{ code: 1000, reason: 'done', cause: 'peer-closed' }]);
        const st = ws.stats();
        assert.equal(st.httpRequests >= 1, true, 'the page came from the request hook');
        assert.equal(st.handshakesAccepted, 1);
        assert.equal(st.messagesIn, MESSAGES);
        assert.equal(st.messagesOut, MESSAGES);
        if (variant.endpoint.perMessageDeflate !== undefined) {
          // Both ways compressed: the repeated texts and patterned bytes shrink on the wire.
          const d = st.deflate as { plainOut: number; wireOut: number; plainIn: number; wireIn: number };
          assert.ok(d.wireOut * 4 < d.plainOut, `sent ${d.wireOut} wire bytes for ${d.plainOut}`);
          assert.ok(d.wireIn * 4 < d.plainIn, `chromium sent ${d.wireIn} wire bytes for ${d.plainIn}`);
        }
      } finally {
        await page.close();
        await server.close({ graceMs: 1_000 });
      }
    });
  }
});
