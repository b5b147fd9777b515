/**
 * A handshake flood, run as its own process so the server's memory is its own
 * and each process stays far below the open-file limit:
 *
 *   node flood-peers.js '{"port":P,"groups":[{"kind":"drip","count":1500}, …]}'
 *
 * Each group opens `count` connections (from 127.0.0.2-11, at most 200
 * connecting at once) that misbehave in one way until the server closes them:
 *
 * | kind          | sends                                                    |
 * |---------------|----------------------------------------------------------|
 * | drip          | a valid upgrade request, one byte every 100 ms           |
 * | endless-head  | a header value 4 KiB at a time every 5 ms, up to 1 MiB    |
 * | long-line     | a request target 1 KiB at a time every 5 ms, up to 64 KiB |
 * | many-headers  | 100 short header lines, ten every 5 ms, and the blank line |
 * | bad-key       | a whole upgrade request with a key of 15 bytes            |
 *
 * Prints `FLOODING` once every connect has succeeded or failed, then one JSON line: per
 * group, the connections made, how they ended, and the HTTP statuses seen.
 */
import net from 'node:net';

type Kind = 'drip' | 'endless-head' | 'long-line' | 'many-headers' | 'bad-key';

interface Group {
  kind: Kind;
  count: number;
}

/** What happened to a group's connections. */
export interface GroupOutcome {
  kind: Kind;
  connected: number;
  connectFailed: number;
  /** Ended by the server with FIN, or with RST. */
  ends: number;
  resets: number;
  /** The status of each response by code; `none` when nothing was received. */
  statuses: Record<string, number>;
}

const UPGRADE = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const BAD_KEY = UPGRADE.replace('dGhlIHNhbXBsZSBub25jZQ==', 'dGhlIHNhbXBsZSBub25jZQ=');

/** The bytes of a connection's misbehaviour, chunk by chunk, and the pause between chunks. */
function script(kind: Kind): { chunk(i: number): string | null; everyMs: number } {
  switch (kind) {
    case 'drip':
      return { chunk: (i) => (i < UPGRADE.length ? (UPGRADE[i] as string) : null), everyMs: 100 };
    case 'endless-head':
      return { chunk: (i) => (i === 0 ? 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ' : i <= 256 ? 'p'.repeat(4096) : null), everyMs: 5 };
    case 'long-line':
      return { chunk: (i) => (i === 0 ? 'GET /' : i <= 64 ? 'a'.repeat(1024) : null), everyMs: 5 };
    case 'many-headers':
      // maxHeaders is checked on the whole head (the byte bound holds it meanwhile): ten lines a write, then the end.
      return { chunk: (i) => (i === 0 ? 'GET / HTTP/1.1\r\n' : i <= 10 ? Array.from({ length: 10 }, (_, k) => `X-Header-${i * 10 + k}: 1\r\n`).join('') : i === 11 ? '\r\n' : null), everyMs: 5 };
    case 'bad-key':
      return { chunk: (i) => (i === 0 ? BAD_KEY : null), everyMs: 5 };
  }
}

/** `settled(ok)` is called once, when the connect succeeds or fails. */
function run(port: number, kind: Kind, index: number, out: GroupOutcome, settled: (ok: boolean) => void): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (index % 10)}`, allowHalfOpen: true });
    const { chunk, everyMs } = script(kind);
    let step = 0;
    let timer: NodeJS.Timeout | null = null;
    let head = '';
    let how: 'end' | 'reset' | null = null;
    let opened = false;
    const next = (): void => {
      const c = chunk(step++);
      if (c === null || socket.destroyed || socket.writableEnded) return;
      socket.write(c);
      timer = setTimeout(next, everyMs);
    };
    socket.once('connect', () => {
      opened = true;
      out.connected++;
      settled(true);
      next();
    });
    socket.on('data', (d: Buffer) => {
      if (head.length < 64) head += d.toString('latin1');
    });
    socket.on('end', () => {
      how ??= 'end';
      socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!opened) {
        out.connectFailed++;
        settled(false);
      } else if (err.code === 'ECONNRESET' || err.code === 'EPIPE') how ??= 'reset';
    });
    socket.once('close', () => {
      if (timer !== null) clearTimeout(timer);
      if (opened) {
        if (how === 'reset') out.resets++;
        else out.ends++;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 'none';
        out.statuses[status] = (out.statuses[status] ?? 0) + 1;
      }
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const { port, groups } = JSON.parse(process.argv[2] ?? '{}') as { port: number; groups: Group[] };
  const outcomes: GroupOutcome[] = groups.map((g) => ({ kind: g.kind, connected: 0, connectFailed: 0, ends: 0, resets: 0, statuses: {} }));
  const total = groups.reduce((n, g) => n + g.count, 0);
  let done = 0;
  let connecting = 0;
  const settled = (): void => {
    connecting--;
    if (++done === total) process.stdout.write('FLOODING\n');
  };
  const all: Promise<void>[] = [];
  let index = 0;
  for (const [g, group] of groups.entries()) {
    for (let i = 0; i < group.count; i++, index++) {
      // Bounded concurrency of connects: the server's accept queue holds 511.
      while (connecting >= 200) await new Promise((r) => setTimeout(r, 2));
      connecting++;
      all.push(run(port, group.kind, index, outcomes[g] as GroupOutcome, settled));
    }
  }
  await Promise.all(all);
  process.stdout.write(`${JSON.stringify(outcomes)}\n`);
}

void main();
