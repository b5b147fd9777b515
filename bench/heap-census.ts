/**
 * What an idle connection is made of on the JS heap: a heap snapshot before and
 * after `tcpload --idle` opens N connections, and the difference by object kind
 * per connection (count and bytes), largest first.
 *
 *   node dist/bench/heap-census.js capstan-ws|ws|net|capstan [N=2000]
 *
 * The server runs in this process (the snapshot is its heap); tcpload holds the
 * connections from its own process. The figures are V8's self sizes: what lies
 * outside the heap (libuv handles, the socket's native side) is not in them.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { listen, lengthPrefixed, silentLogger } from '../src/index.js';
import { cTool } from './tools.js';
import { startWebSocketServer } from './ws-servers.js';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self bytes and counts by `type:name` in a heap snapshot. */
function census(file: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = f.length;
  const [ti, ni, si] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + ti] as number] as string;
    const raw = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '(strings)' : (s.strings[s.nodes[i + ni] as number] as string);
    const name = raw.length > 60 ? `${raw.slice(0, 57)}...` : raw;
    const key = `${type}:${name}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + si] as number;
    out.set(key, e);
  }
  return out;
}

async function start(kind: string): Promise<{ port: number; open: () => number }> {
  if (kind === 'capstan-ws' || kind === 'ws') return startWebSocketServer(kind);
  if (kind === 'capstan') {
    const server = await listen({ port: 0, codec: lengthPrefixed({ lengthBytes: 4 }), logger: silentLogger, limits: { maxConnections: 100_000, maxConnectionsPerAddress: 100_000 }, handler: { message: (c, f) => void c.send(f) } });
    return { port: (server.address as { port: number }).port, open: () => server.connectionCount };
  }
  let open = 0;
  const server = net.createServer((socket) => {
    open++;
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => {});
    socket.on('close', () => open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 511, r));
  return { port: (server.address() as net.AddressInfo).port, open: () => open };
}

async function main(): Promise<void> {
  const [kind = 'capstan-ws', n = '2000'] = process.argv.slice(2);
  const conns = Number(n);
  const tool = cTool('tcpload');
  if (tool.path === null) throw new Error(tool.problem);
  const bin = tool.path;
  const server = await start(kind);
  const dir = tmpdir();
  const before = writeHeapSnapshot(join(dir, `census-${process.pid}-0.heapsnapshot`));
  const args = ['--port', String(server.port), '--conns', String(conns), '--idle', '--seconds', '30', '--src-ips', '127.0.0.2-127.0.0.20'];
  if (kind === 'capstan-ws' || kind === 'ws') args.push('--ws');
  const load = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      load.stdout.on('data', (d: Buffer) => d.toString().includes('ESTABLISHED') && resolve());
      load.once('exit', () => reject(new Error('tcpload ended before its connections were up')));
    });
    const deadline = Date.now() + 10_000;
    while (server.open() < conns && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const held = server.open();
    const after = writeHeapSnapshot(join(dir, `census-${process.pid}-1.heapsnapshot`));
    const a = census(before);
    const b = census(after);
    rmSync(before);
    rmSync(after);
    const rows = [...b]
      .map(([k, v]) => ({ k, count: (v.count - (a.get(k)?.count ?? 0)) / held, bytes: (v.bytes - (a.get(k)?.bytes ?? 0)) / held }))
      .filter((r) => r.bytes > 4)
      .sort((x, y) => y.bytes - x.bytes);
    const total = rows.reduce((s, r) => s + r.bytes, 0);
    process.stdout.write(`${kind}: ${held} connections, ${Math.round(total)} B of heap each (self sizes, kinds above 4 B)\n`);
    for (const r of rows.slice(0, 30)) process.stdout.write(`${Math.round(r.bytes).toString().padStart(6)} B ${r.count.toFixed(2).padStart(6)}×  ${r.k}\n`);
  } finally {
    load.kill('SIGKILL');
  }
  process.exit(0);
}

void main();
