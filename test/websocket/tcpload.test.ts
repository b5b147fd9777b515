/**
 * Interop with ../shared/bench/tcpload --ws, a C client nobody here wrote: it
 * does the upgrade (checking Sec-WebSocket-Accept), sends masked binary frames
 * and compares every echoed byte. Short bounded runs at each length form, the
 * churn mode (handshake, one echo, close, again) and the idle mode under our
 * heartbeats. Without gcc (a Debian package CI installs) the test is skipped,
 * and fails under CI=true. The C sources are not part of this repository: a
 * checkout with no ../shared/bench beside it (and no CAPSTAN_SHARED_BENCH)
 * skips the test with that said, under CI too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tcpload, type Shape } from '../../bench/generators.js';
import { cTool } from '../../bench/tools.js';
import { listen, silentLogger, websocket, type CloseReason, type Server } from '../../src/index.js';
import { describeNeeding } from '../support/needs.js';
import { portOf } from '../support/net.js';

const tool = cTool('tcpload');
const bin = tool.path;

const title = 'tcpload --ws against the WebSocket echo';
const body = () => {
  let server: Server;
  let port: number;
  const causes = new Map<CloseReason, number>();
  const ws = websocket({
    path: '/',
    // Often enough that the idle run sees pings; tcpload must answer them.
    pingIntervalMs: 300,
    pongTimeoutMs: 2_000,
    handler: {
      message: (s, data, isBinary) => void s.send(data, isBinary),
      close: (_s, _code, _reason, cause) => void causes.set(cause, (causes.get(cause) ?? 0) + 1),
    },
  });
  before(async () => {
    server = await listen({ port: 0, logger: silentLogger, websocket: ws, limits: { maxConnectionsPerAddress: 10_000 } });
    port = portOf(server);
  });
  after(async () => {
    await server.close({ graceMs: 1_000 });
  });

  const run = (shape: Omit<Shape, 'framing'>) => tcpload(bin as string, port, { ...shape, framing: 'ws' }, false);

  for (const [size, conns, depth, form] of [
    [64, 20, 16, '7-bit'],
    [1_000, 10, 4, '16-bit'],
    [70_000, 4, 2, '64-bit'],
  ] as const) {
    it(`echoes ${size}-byte messages (${form} lengths) to ${conns} connections at depth ${depth}, every byte checked, no errors`, async () => {
      const before = ws.stats();
      const f = await run({ conns, size, depth, seconds: 1.5, mode: 'echo' });
      assert.equal(f.errors, 0, JSON.stringify(f));
      assert.ok(f.msgs > 100, `${f.msgs} messages echoed`);
      const st = ws.stats();
      assert.equal(st.handshakesAccepted - before.handshakesAccepted, conns);
      assert.ok(st.messagesIn - before.messagesIn >= f.msgs);
      assert.equal(st.messagesOut - before.messagesOut, st.messagesIn - before.messagesIn, 'every message was answered');
      assert.equal(st.bytesOut - before.bytesOut, (st.messagesOut - before.messagesOut) * size);
    });
  }

  it('serves the churn mode: handshake, one checked echo, close, again', async () => {
    const before = ws.stats().handshakesAccepted;
    const f = await run({ conns: 10, size: 64, depth: 1, seconds: 1.5, mode: 'churn' });
    assert.equal(f.errors, 0, JSON.stringify(f));
    assert.ok(f.msgs > 10, `${f.msgs} cycles`);
    assert.ok(ws.stats().handshakesAccepted - before >= f.msgs);
  });

  it('keeps idle connections whose pings tcpload answers, and closes none for heartbeats', async () => {
    const before = ws.stats();
    const f = await run({ conns: 50, size: 64, depth: 1, seconds: 1.5, mode: 'idle' });
    assert.equal(f.errors, 0, JSON.stringify(f));
    const st = ws.stats();
    assert.ok(st.pingsOut - before.pingsOut >= 50, `${st.pingsOut - before.pingsOut} pings sent`);
    assert.ok(st.pongsIn - before.pongsIn >= 50, `${st.pongsIn - before.pongsIn} pongs back`);
    assert.equal(causes.get('heartbeat-timeout') ?? 0, 0);
  });
};

if (tool.lacking === 'sources') describe(title, { skip: tool.problem }, body);
else describeNeeding(title, tool.problem ?? null, body);
