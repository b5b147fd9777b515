/**
 * The frame-progress deadline: once a frame's first byte has arrived, the rest
 * must follow within `frameTimeoutMs`, so a peer dripping a frame one byte at a
 * time (and so staying under the idle timeout) cannot hold its slot forever.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, lines, silentLogger, ManualClock, TimerWheel, type Codec } from '../../src/index.js';
import { lp4, portOf, rawConnect, waitFor, type RawPeer } from '../support/net.js';
import { recordingHandler } from '../support/recorder.js';

function virtualTime(): { wheel: TimerWheel; advance(ms: number): void } {
  const clock = new ManualClock(1_000_000);
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

async function echoServer(codec: Codec, limits: object, wheel: TimerWheel) {
  const { handler, rec } = recordingHandler({ message: (c, f) => c.send(f) });
  const server = await listen({ port: 0, codec, handler, limits, timerWheel: wheel, logger: silentLogger });
  return { server, rec };
}

/** Writes `bytes` one at a time, one virtual second apart, waiting for each to reach the server. */
async function drip(peer: RawPeer, bytes: Buffer, vt: { advance(ms: number): void }, server: { stats(): { bytesIn: number } }, stopWhen: () => boolean): Promise<number> {
  let sent = 0;
  for (const byte of bytes) {
    if (stopWhen()) break;
    const before = server.stats().bytesIn;
    peer.socket.write(Buffer.of(byte));
    await waitFor(() => server.stats().bytesIn > before || stopWhen(), 10_000, 'the byte to arrive');
    sent++;
    vt.advance(1_000);
  }
  return sent;
}

describe('frame-progress deadline', () => {
  it('destroys a peer that drips a frame one byte a second, under the idle timeout, after frameTimeoutMs', async () => {
    const vt = virtualTime();
    const { server, rec } = await echoServer(lengthPrefixed(), { frameTimeoutMs: 5_000, idleTimeoutMs: 60_000 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('complete'));
    await peer.waitBytes(lp4('complete').length);
    const closed = () => rec.reasons.length > 0;
    const sent = await drip(peer, lp4('x'.repeat(64)), vt, server, closed);
    vt.advance(1_000);
    assert.equal(await rec.closed, 'frame-timeout');
    assert.ok(sent >= 5 && sent <= 7, `closed after ${sent} dripped bytes (about 5 s)`);
    assert.equal((rec.errors[0] as { code?: string } | undefined)?.code, 'ERR_FRAME_TIMEOUT');
    assert.equal(await peer.ended, 'reset');
    assert.deepEqual(peer.received(), lp4('complete'), 'the reply to the complete frame went out first');
    assert.equal(server.stats().timeouts.frame, 1);
    assert.equal(server.stats().closes['frame-timeout'], 1);
    await server.close();
  });

  it('destroys a peer that drips a line without its line end', async () => {
    const vt = virtualTime();
    const { server, rec } = await echoServer(lines(), { frameTimeoutMs: 3_000 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    await drip(peer, Buffer.from('GET /slowly and never ending'), vt, server, () => rec.reasons.length > 0);
    vt.advance(1_000);
    assert.equal(await rec.closed, 'frame-timeout');
    await server.close();
  });

  it('keeps a peer whose frames straddle reads for far longer than frameTimeoutMs, as long as each frame completes in time', async () => {
    const vt = virtualTime();
    const { server, rec } = await echoServer(lengthPrefixed(), { frameTimeoutMs: 3_000 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    const frames = Array.from({ length: 20 }, (_, i) => lp4(`frame ${i} `.repeat(4)));
    const stream = Buffer.concat(frames);
    // Every write ends in the middle of a frame: a partial frame is pending after every read.
    let at = 0;
    let expected = 0;
    for (const f of frames) {
      const cut = expected + f.length + Math.floor(f.length / 2);
      expected += f.length;
      peer.socket.write(stream.subarray(at, Math.min(cut, stream.length)));
      at = Math.min(cut, stream.length);
      await peer.waitBytes(expected);
      vt.advance(2_000);
    }
    assert.equal(rec.reasons.length, 0, 'not closed');
    assert.deepEqual(peer.received(), stream);
    peer.socket.end();
    assert.equal(await rec.closed, 'peer-closed');
    await server.close();
  });

  it('lets a partial frame wait forever when frameTimeoutMs is 0', async () => {
    const vt = virtualTime();
    const { server, rec } = await echoServer(lengthPrefixed(), { frameTimeoutMs: 0, idleTimeoutMs: 0 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('abcdef').subarray(0, 6));
    await waitFor(() => server.stats().bytesIn === 6);
    vt.advance(600_000);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(rec.reasons.length, 0);
    peer.socket.end(lp4('abcdef').subarray(6));
    await peer.waitBytes(lp4('abcdef').length);
    assert.equal(await rec.closed, 'peer-closed');
    await server.close();
  });

  it('cuts off a real dripping peer on the real clock (frameTimeoutMs 1,500)', async () => {
    const { handler, rec } = recordingHandler();
    const server = await listen({ port: 0, codec: lengthPrefixed(), handler, limits: { frameTimeoutMs: 1_500 }, logger: silentLogger });
    const peer = await rawConnect({ port: portOf(server) });
    const frame = lp4('y'.repeat(100));
    const started = Date.now();
    for (let i = 0; i < frame.length && rec.reasons.length === 0 && Date.now() - started < 30_000; i++) {
      peer.socket.write(frame.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await rec.closed, 'frame-timeout');
    // One wheel tick late at most, plus a loaded machine's scheduling: only an upper bound far above the deadline.
    assert.ok(Date.now() - started < 20_000);
    await server.close();
  });
});
