import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lengthPrefixed, lines, listen, silentLogger } from '../../../src/index.js';
import { lp4, waitFor } from '../../support/net.js';
import { udpPeer } from '../../support/udp.js';

/** The records of a datagram of 4-byte big-endian length-prefixed records. */
function records(datagram: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at + 4 <= datagram.length) {
    const n = datagram.readUInt32BE(at);
    out.push(datagram.subarray(at + 4, at + 4 + n).toString());
    at += 4 + n;
  }
  assert.equal(at, datagram.length, 'the datagram holds whole records only');
  return out;
}

describe('udp codecs inside datagrams', () => {
  it('delivers every record of a datagram in order, and packs the replies of one turn into one datagram', async () => {
    const got: string[] = [];
    const server = await listen({
      transport: 'udp',
      port: 0,
      codec: lengthPrefixed(),
      logger: silentLogger,
      handler: { message: (s, r) => void (got.push(r.toString()), s.send(r)) },
    });
    const a = await udpPeer(server.address.port);
    await a.send(Buffer.concat([lp4('one'), lp4(''), lp4('three')]));
    const [reply] = await a.waitFor(1);
    assert.deepEqual(got, ['one', '', 'three']);
    assert.deepEqual(records(reply as Buffer), ['one', '', 'three']);
    assert.equal(server.stats().framesIn, 3);
    assert.equal(server.stats().framesOut, 3);
    await waitFor(() => server.stats().udp?.datagramsOut === 1, 10_000, 'one datagram sent');
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('drops a datagram that ends inside a record, whole, and never joins its tail with the next datagram', async () => {
    const got: string[] = [];
    const server = await listen({ transport: 'udp', port: 0, codec: lengthPrefixed(), logger: silentLogger, handler: { message: (s, r) => void (got.push(r.toString()), s.send(r)) } });
    const a = await udpPeer(server.address.port);
    const stream = Buffer.concat([lp4('whole'), lp4('split across two')]);
    // The first datagram holds a whole record and half of another; the second holds the other half.
    await a.send(stream.subarray(0, 15));
    await a.send(stream.subarray(15));
    await a.send(Buffer.from([0, 0, 0]));
    await a.send(lp4('after'));
    assert.deepEqual(records((await a.waitFor(1))[0] as Buffer), ['after']);
    const drops = server.stats().udp?.drops;
    assert.equal(drops?.truncated, 2, 'the half record and a short header');
    assert.equal(drops?.malformed, 1, 'the missing half, read on its own: its first bytes, as a length, are far over the bound');
    assert.deepEqual(got, ['after'], 'not even the whole record of the truncated datagram was delivered');
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it("counts a record over the codec's bound as malformed and keeps the session", async () => {
    const server = await listen({
      transport: 'udp',
      port: 0,
      codec: lengthPrefixed({ maxFrameBytes: 8 }),
      logger: silentLogger,
      handler: { message: (s, r) => void s.send(r) },
    });
    const a = await udpPeer(server.address.port);
    await a.send(lp4('far too long for eight'));
    await a.send(lp4('ok'));
    assert.deepEqual(records((await a.waitFor(1))[0] as Buffer), ['ok']);
    assert.equal(server.stats().udp?.drops.malformed, 1);
    assert.equal(server.stats().accepted, 1);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('sends each record in its own datagram with packBytes 0, and starts a new datagram when the next record would not fit', async () => {
    const reply = (n: number) => ({
      message: (s: { send(d: Buffer | string): boolean }) => {
        for (let i = 0; i < n; i++) s.send(`record ${i}`);
      },
    });
    const unpacked = await listen({ transport: 'udp', port: 0, codec: lengthPrefixed(), packBytes: 0, logger: silentLogger, handler: reply(3) });
    const a = await udpPeer(unpacked.address.port);
    await a.send(lp4('go'));
    assert.deepEqual((await a.waitFor(3)).map((d) => records(d)), [['record 0'], ['record 1'], ['record 2']]);
    // Each record is 4 + 8 bytes: a 40-byte bound holds two of them with the header allowance, not three.
    const packed = await listen({ transport: 'udp', port: 0, codec: lengthPrefixed(), packBytes: 40, logger: silentLogger, handler: reply(5) });
    const b = await udpPeer(packed.address.port);
    await b.send(lp4('go'));
    const got = await b.waitFor(3);
    assert.deepEqual(got.map((d) => records(d)), [['record 0', 'record 1'], ['record 2', 'record 3'], ['record 4']]);
    assert.ok(got.every((d) => d.length <= 40));
    await Promise.all([a.close(), b.close(), unpacked.close({ graceMs: 100 }), packed.close({ graceMs: 100 })]);
  });

  it('reads lines from each datagram on its own, the unterminated last line included', async () => {
    const got: string[] = [];
    const server = await listen({ transport: 'udp', port: 0, codec: lines(), logger: silentLogger, handler: { message: (_s, l) => void got.push(l.toString()) } });
    const a = await udpPeer(server.address.port);
    await a.send('one\r\ntw');
    await a.send('o\nthree\n');
    await waitFor(() => got.length === 4, 10_000, 'four lines');
    assert.deepEqual(got, ['one', 'tw', 'o', 'three']);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });
});
