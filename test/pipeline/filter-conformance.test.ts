/**
 * The filter contract (src/pipeline/filter.ts), checked over real sockets for
 * every filter Capstan ships: any chunking of the wire stream, backpressure
 * through the filter, half-close, and bad input mapped to a close reason.
 *
 * The test's own side of the wire runs a session of the same filter by hand,
 * so the bytes on the socket can be cut anywhere. Chains of several filters
 * run the same checks, with filters that do not commute (the wrong order, or a
 * skipped filter, garbles the stream).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import fc from 'fast-check';
import parsePrometheus from 'parse-prometheus-text-format';
import { compression, lengthPrefixed, listen, passThrough, silentLogger, type CloseReason, type Connection, type Filter, type FilterLink, type FilterSession, type Logger } from '../../src/index.js';
import { createExposition } from '../../src/metrics/prometheus.js';
import { combineSnapshots, collectWorkerSnapshot } from '../../src/metrics/snapshot.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { lp4, portOf, rawConnect, waitFor, type RawPeer } from '../support/net.js';
import { occupyThreadPool } from '../support/thread-pool.js';

interface Subject {
  label: string;
  /** The listener's filters, from the socket's side. */
  make(): Filter[];
  /** Bytes that this filter must refuse, and the error code it gives. */
  garbage?: { bytes: () => Buffer; code: string };
}

const subjects: Subject[] = [
  { label: 'passThrough', make: () => [passThrough()] },
  { label: 'deflate', make: () => [compression({ algorithm: 'deflate' })], garbage: { bytes: () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]), code: 'ERR_COMPRESSION' } },
  { label: 'deflate, small window and level 1', make: () => [compression({ algorithm: 'deflate', windowBits: 9, memLevel: 1, level: 1 })] },
  { label: 'brotli', make: () => [compression({ algorithm: 'brotli' })], garbage: { bytes: () => Buffer.from('definitely not brotli at all, no'), code: 'ERR_COMPRESSION' } },
  { label: 'a chain: brotli inside deflate', make: () => [compression({ algorithm: 'deflate' }), compression({ algorithm: 'brotli' })] },
  { label: 'a chain: passThrough, a byte shift, deflate, passThrough', make: () => [passThrough(), byteShift(), compression({ algorithm: 'deflate' }), passThrough('pass-2')] },
  { label: 'a chain: deflate, a byte shift, passThrough', make: () => [compression({ algorithm: 'deflate' }), byteShift(), passThrough()] },
];
if (typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === 'function') {
  subjects.push({ label: 'zstd', make: () => [compression({ algorithm: 'zstd' })] });
}

/**
 * A synchronous filter that changes every byte (+1 towards the peer, -1 from
 * it): next to a compressor its place in the chain shows, since compressing
 * shifted bytes is not shifting compressed ones.
 */
function byteShift(): Filter {
  const shifted = (bytes: Buffer, by: number): Buffer => {
    const out = Buffer.allocUnsafe(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = ((bytes[i] as number) + by) & 0xff;
    return out;
  };
  return {
    name: 'byte-shift',
    open: (link) => ({
      inbound: (bytes) => link.deliver(shifted(bytes, -1)),
      outbound: (bytes, endOfBatch) => link.write(shifted(bytes, 1), endOfBatch),
    }),
  };
}

/** The test's end of the filtered stream: encodes what it sends, decodes what it receives, through its own sessions of the same filters. */
function peerSide(filters: Filter[]) {
  const wire: Buffer[] = [];
  const plain: Buffer[] = [];
  let flushed: (() => void) | null = null;
  const sessions: FilterSession[] = [];
  const n = filters.length;
  // Wired as the server's chain is: session 0 faces the wire, session n-1 the plain bytes.
  for (let i = 0; i < n; i++) {
    const link: FilterLink = {
      deliver: (b) => (i + 1 < n ? (sessions[i + 1] as FilterSession).inbound(b) : void plain.push(Buffer.from(b))),
      deliverEnd: () => {},
      write: (b, end) => {
        if (i > 0) return (sessions[i - 1] as FilterSession).outbound(b, end);
        if (b.length > 0) wire.push(Buffer.from(b));
        if (end) flushed?.();
      },
      writeEnd: () => {},
      holdInbound: () => {},
      fail: (_r, e) => {
        throw e;
      },
      paused: false,
      remoteAddress: 'test',
      note: () => {},
    };
    sessions.push((filters[i] as Filter).open(link));
  }
  return {
    /** The wire bytes for `bytes`, flushed as one batch. */
    async encode(bytes: Buffer): Promise<Buffer> {
      const done = new Promise<void>((r) => (flushed = r));
      (sessions[n - 1] as FilterSession).outbound(bytes, true);
      await done;
      return Buffer.concat(wire.splice(0));
    },
    /** Feeds received wire bytes; resolves the plain bytes so far once there are at least `n`. */
    async decode(bytes: Buffer, atLeast: number): Promise<Buffer> {
      if (bytes.length > 0) (sessions[0] as FilterSession).inbound(bytes);
      await waitFor(() => plain.reduce((a, b) => a + b.length, 0) >= atLeast, 30_000, `${atLeast} decoded bytes`);
      return Buffer.concat(plain);
    },
    close: () => {
      for (const session of sessions) session.close?.();
    },
  };
}

/** Feeds what `peer` received into `ours` until at least `n` plain bytes are decoded; returns them. */
async function receivePlain(peer: RawPeer, ours: ReturnType<typeof peerSide>, n: number): Promise<Buffer> {
  let fed = 0;
  let got: Buffer = Buffer.alloc(0);
  for (const start = Date.now(); got.length < n; await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() - start > 60_000) assert.fail(`decoded ${got.length} of ${n} bytes`);
    const received = peer.received();
    got = await ours.decode(received.subarray(fed), 0);
    fed = received.length;
  }
  return got;
}

async function echoServer(filters: Filter[], limits: object = {}, logger: Logger = silentLogger) {
  const closes: Array<{ reason: CloseReason; code: string | undefined }> = [];
  const server = await listen({
    port: 0,
    codec: lengthPrefixed(),
    logger,
    filters,
    limits,
    handler: {
      message: (c: Connection, f: Buffer) => void c.send(f),
      close: (_c, reason, error) => void closes.push({ reason, code: (error as { code?: string } | undefined)?.code }),
    },
  });
  return { server, closes };
}

/** Writes `wire` cut at `cuts`, one piece per event-loop turn, so the server reads them apart. */
async function writeInPieces(peer: RawPeer, wire: Buffer, cuts: number[]): Promise<void> {
  const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  let at = 0;
  for (const p of [...points, wire.length]) {
    if (p <= at) continue;
    peer.socket.write(wire.subarray(at, p));
    at = p;
    await new Promise((r) => setTimeout(r, 1));
  }
}

for (const s of subjects) {
  describe(`filter conformance: ${s.label}`, () => {
    it('delivers the same frames whatever the chunking of the wire stream, and filters the replies back', async () => {
      const { server } = await echoServer(s.make());
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), async (frames, cuts) => {
            const stream = Buffer.concat(frames.map((f) => lp4(Buffer.from(f))));
            const ours = peerSide(s.make());
            const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
            try {
              await writeInPieces(peer, await ours.encode(stream), cuts);
              const got = await receivePlain(peer, ours, stream.length);
              assert.deepEqual(got, stream);
            } finally {
              peer.socket.destroy();
              ours.close();
            }
          }),
          { numRuns: 25 },
        );
      } finally {
        await server.close();
      }
    });

    it('passes a half-close through: every frame before the FIN is answered, then the server ends', async () => {
      const { server, closes } = await echoServer(s.make());
      const ours = peerSide(s.make());
      const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
      const stream = Buffer.concat(Array.from({ length: 50 }, (_, i) => lp4(`frame ${i} `.repeat(10))));
      peer.socket.end(await ours.encode(stream));
      assert.equal(await peer.ended, 'end');
      assert.deepEqual(await receivePlain(peer, ours, stream.length), stream);
      await waitFor(() => closes.length === 1);
      assert.equal(closes[0]?.reason, 'peer-closed');
      ours.close();
      await server.close();
    });

    it('applies backpressure through the filter: a peer that reads late gets every reply', async () => {
      const { server } = await echoServer(s.make(), { highWaterBytes: 16 * 1024 });
      const ours = peerSide(s.make());
      const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
      peer.socket.pause();
      // Incompressible payloads, so the replies really fill the socket buffers.
      const frames = Array.from({ length: 1000 }, () => lp4(randomBytes(8 * 1024)));
      const stream = Buffer.concat(frames);
      peer.socket.write(await ours.encode(stream));
      await waitFor(() => server.stats().backpressurePauses > 0, 30_000, 'reading to pause');
      peer.socket.resume();
      assert.deepEqual(await receivePlain(peer, ours, stream.length), stream);
      peer.socket.destroy();
      ours.close();
      await server.close();
    });

    if (s.garbage !== undefined) {
      const garbage = s.garbage;
      it(`closes a peer whose stream is not ${s.label} with protocol-error (${garbage.code}), and keeps serving others`, async () => {
        const { server, closes } = await echoServer(s.make());
        const bad = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
        bad.socket.write(garbage.bytes());
        await bad.ended;
        bad.socket.destroy();
        await waitFor(() => closes.length === 1);
        assert.deepEqual(closes[0], { reason: 'protocol-error', code: garbage.code });
        const ours = peerSide(s.make());
        const good = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
        good.socket.write(await ours.encode(lp4('still fine')));
        assert.deepEqual(await ours.decode(await good.waitBytes(1), lp4('still fine').length), lp4('still fine'));
        good.socket.destroy();
        ours.close();
        await server.close();
      });
    }
  });
}

describe('compression limits', () => {
  it('closes a decompression bomb with ERR_INFLATE_LIMIT before inflating it all', async () => {
    const { server, closes } = await echoServer([compression({ maxInflateRatio: 20 })], { maxFrameBytes: 64 * 1024 * 1024 });
    // One frame header announcing 50 MB, then 50 MB of zeros: about 50 KB on the wire.
    const header = Buffer.alloc(4);
    header.writeUInt32BE(50 * 1024 * 1024);
    const bomb = zlib.deflateRawSync(Buffer.concat([header, Buffer.alloc(50 * 1024 * 1024)]), { level: 9 });
    assert.ok(bomb.length < 100 * 1024, `${bomb.length} bytes on the wire`);
    const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
    peer.socket.write(bomb);
    await peer.ended;
    peer.socket.destroy();
    await waitFor(() => closes.length === 1);
    assert.deepEqual(closes[0], { reason: 'protocol-error', code: 'ERR_INFLATE_LIMIT' });
    assert.equal(server.stats().filters.deflate?.inflateLimits, 1);
    await server.close();
  });

  it('stops reading a peer whose bytes wait for a busy inflater past 256 KiB, counts and logs it, then reads on and loses nothing', async () => {
    const lines: LoggedLine[] = [];
    const { server, closes } = await echoServer([compression()], {}, recordingLogger(lines));
    const stream = Buffer.concat(Array.from({ length: 64 }, () => lp4(randomBytes(16 * 1024))));
    // Random bytes do not compress: about 1 MiB on the wire, written at once, finished as one deflate stream.
    const wire = zlib.deflateRawSync(stream);
    const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
    // zlib runs on libuv's thread pool: with every thread busy, received bytes can only queue.
    const pool = await occupyThreadPool();
    try {
      peer.socket.write(wire);
      await waitFor(() => (server.stats().filters.deflate?.inboundHolds ?? 0) >= 1, 30_000, 'the inbound hold');
      const [conn] = [...server.connections()];
      assert.ok(conn !== undefined && conn.state === 'open', 'held, not closed');
    } finally {
      pool.release();
    }
    const echoed = await peer.waitBytes(1);
    let plain = Buffer.alloc(0);
    for (const start = Date.now(); plain.length < stream.length; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() - start > 60_000) assert.fail(`decoded ${plain.length} of ${stream.length} echoed bytes`);
      plain = zlib.inflateRawSync(peer.received(), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    }
    assert.ok(echoed.length > 0);
    assert.deepEqual(plain, stream, 'every byte came back, in order');
    assert.deepEqual(closes, []);
    const held = lines.filter((l) => /waiting for the inflater/.test(l.msg ?? ''));
    assert.equal(held.length, 1, 'one line for the connection, however often it is held');
    assert.equal(held[0]?.obj.limit, 256 * 1024);
    const families = parsePrometheus(await createExposition().render(combineSnapshots([collectWorkerSnapshot('main', new Map([['l', server]]))], false)));
    const holds = families.find((m) => m.name === 'capstan_compression_limits_total')?.metrics.find((m) => m.labels?.limit === 'inbound-hold')?.value;
    assert.ok(Number(holds) >= 1, `capstan_compression_limits_total{limit="inbound-hold"} is ${holds}`);
    peer.socket.destroy();
    await server.close();
  });

  it('counts plain and compressed bytes each way, in the listener stats and as a ratio in /metrics', async () => {
    const { server } = await echoServer([compression()]);
    const ours = peerSide([compression()]);
    const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
    const stream = Buffer.concat(Array.from({ length: 40 }, (_, i) => lp4(`a very repetitive line number ${i % 4} `.repeat(20))));
    const wire = await ours.encode(stream);
    peer.socket.write(wire);
    assert.deepEqual(await receivePlain(peer, ours, stream.length), stream);
    const f = server.stats().filters.deflate;
    assert.ok(f !== undefined);
    assert.equal(f.wireIn, wire.length);
    assert.equal(f.plainIn, stream.length);
    assert.equal(f.plainOut, stream.length);
    assert.equal(f.wireOut, peer.received().length);
    const families = parsePrometheus(await createExposition().render(combineSnapshots([collectWorkerSnapshot('main', new Map([['l', server]]))], false)));
    const ratio = (direction: string) => families.find((m) => m.name === 'capstan_compression_ratio')?.metrics.find((m) => m.labels?.direction === direction)?.value;
    assert.ok(Number(ratio('in')) > 5, `inbound ratio ${ratio('in')}`);
    assert.equal(Number(ratio('out')), stream.length / peer.received().length);
    peer.socket.destroy();
    ours.close();
    await server.close();
  });

  it('refuses bad options before anything binds', () => {
    assert.throws(() => compression({ algorithm: 'lz4' as 'deflate' }), { code: 'ERR_INVALID_OPTION', path: 'algorithm' });
    assert.throws(() => compression({ windowBits: 30 }), { code: 'ERR_INVALID_OPTION', path: 'windowBits' });
    assert.throws(() => compression({ maxInflateRatio: 0 }), { code: 'ERR_INVALID_OPTION', path: 'maxInflateRatio' });
  });
});
