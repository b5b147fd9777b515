/**
 * What peers cause is logged, and rate-limited: abnormal closes, handler
 * errors and refusals share one budget per listener (20 lines a second), and
 * the summary of a suppressed burst is written by the timer wheel when its
 * window ends, even if nothing happens after the burst.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listen, lengthPrefixed, ManualClock, TimerWheel, type Handler } from '../../src/index.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { connectExpectingRefusal, portOf, waitFor } from '../support/net.js';

function virtualWheel(): { wheel: TimerWheel; advance(ms: number): void } {
  const clock = new ManualClock(5_000_000);
  const wheel = new TimerWheel({ tickMs: 100, clock, autoTick: false });
  return {
    wheel,
    advance(ms: number) {
      for (let t = 0; t < ms; t += 100) {
        clock.advance(100);
        wheel.tick();
      }
    },
  };
}

/** Opens `n` connections that each send an oversized lp4 header, so each closes with frame-too-large. */
async function oversized(port: number, n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, () => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.once('connect', () => s.write(Buffer.from([0x7f, 0, 0, 0])));
      return new Promise<void>((r) => s.once('close', () => r()));
    }),
  );
}

const summaries = (lines: LoggedLine[]) => lines.filter((l) => /^suppressed \d+/.test(l.msg ?? ''));

describe('the listener event log', () => {
  it('logs 20 abnormal closes a second and reports the rest from the wheel when the window ends, with nothing after the burst', async () => {
    const lines: LoggedLine[] = [];
    const vt = virtualWheel();
    const server = await listen({ port: 0, codec: lengthPrefixed(), handler: {}, timerWheel: vt.wheel, logger: recordingLogger(lines) });
    await oversized(portOf(server), 100);
    await waitFor(() => server.stats().closes['frame-too-large'] === 100);
    const closeLines = lines.filter((l) => l.msg === 'connection closed: frame-too-large');
    assert.equal(closeLines.length, 20);
    assert.equal(summaries(lines).length, 0, 'the window has not ended');
    vt.advance(1_100);
    const [summary, ...more] = summaries(lines);
    assert.equal(more.length, 0);
    assert.equal(summary?.obj.suppressed, 80);
    assert.deepEqual(summary?.obj.kinds, { 'frame-too-large': 80 });
    vt.advance(5_000);
    assert.equal(summaries(lines).length, 1, 'one summary per window that suppressed lines');
    await server.close();
  });

  it('logs handler errors through the same budget, at error level, with the error', async () => {
    const lines: LoggedLine[] = [];
    const vt = virtualWheel();
    const handler: Handler = {
      message() {
        throw new Error('bug in the handler');
      },
    };
    const server = await listen({ port: 0, codec: lengthPrefixed(), handler, timerWheel: vt.wheel, logger: recordingLogger(lines) });
    await Promise.all(
      Array.from({ length: 50 }, () => {
        const s = net.connect({ port: portOf(server), host: '127.0.0.1' });
        s.on('error', () => {});
        s.once('connect', () => s.end(Buffer.from([0, 0, 0, 1, 65])));
        return new Promise<void>((r) => s.once('close', () => r()));
      }),
    );
    await waitFor(() => server.stats().closes['handler-error'] === 50);
    const errors = lines.filter((l) => l.level === 'error');
    assert.ok(errors.length <= 20, `${errors.length} error lines`);
    assert.ok(errors.every((l) => (l.obj.err as Error).message === 'bug in the handler'));
    // Each handler error is logged once, as an error; its close line shares the budget.
    assert.ok(lines.length <= 20, `${lines.length} lines in the window`);
    vt.advance(1_100);
    const [summary] = summaries(lines);
    assert.equal((summary?.obj.suppressed as number) + lines.length - 1, 100, 'every error and close is either logged or counted in the summary');
    assert.equal(server.stats().handlerErrors, 50);
    await server.close();
  });

  it('logs connections refused at max-connections and max-per-address, rate-limited, naming the limit', async () => {
    const lines: LoggedLine[] = [];
    const vt = virtualWheel();
    const server = await listen({
      port: 0,
      handler: {},
      limits: { maxConnections: 3, maxConnectionsPerAddress: 100 },
      timerWheel: vt.wheel,
      logger: recordingLogger(lines),
    });
    const held = await Promise.all(Array.from({ length: 3 }, () => new Promise<net.Socket>((r) => { const s = net.connect({ port: portOf(server), host: '127.0.0.1' }, () => r(s)); })));
    await waitFor(() => server.connectionCount === 3);
    for (let i = 0; i < 40; i++) assert.equal(await connectExpectingRefusal({ port: portOf(server), host: '127.0.0.1' }), 'reset');
    assert.equal(server.stats().refused['max-connections'], 40);
    const refusals = lines.filter((l) => l.obj.reason === 'max-connections');
    assert.equal(refusals.length, 20);
    assert.match(refusals[0]?.msg ?? '', /limits\.maxConnections \(3\)/);
    assert.match(String(refusals[0]?.obj.remote), /^127\.0\.0\.1:\d+$/);
    vt.advance(1_100);
    assert.deepEqual(summaries(lines)[0]?.obj.kinds, { 'refused:max-connections': 20 });
    for (const s of held) s.destroy();
    await server.close();

    const perAddress: LoggedLine[] = [];
    const second = await listen({ port: 0, handler: {}, limits: { maxConnectionsPerAddress: 1 }, logger: recordingLogger(perAddress) });
    const first = await new Promise<net.Socket>((r) => { const s = net.connect({ port: portOf(second), host: '127.0.0.1' }, () => r(s)); });
    await waitFor(() => second.connectionCount === 1);
    assert.equal(await connectExpectingRefusal({ port: portOf(second), host: '127.0.0.1' }), 'reset');
    assert.equal(perAddress.filter((l) => l.obj.reason === 'max-per-address').length, 1);
    assert.match(perAddress.find((l) => l.obj.reason === 'max-per-address')?.msg ?? '', /maxConnectionsPerAddress \(1\)/);
    first.destroy();
    await second.close();
  });
});
