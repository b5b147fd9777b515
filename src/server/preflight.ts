/**
 * Work the primary does on the addresses of new listeners before any worker
 * binds them: a Unix socket file left by a dead server is removed (one a live
 * server answers on is an error), and, where workers share the primary's
 * sockets (cluster), a port something already holds is refused.
 *
 * Why in the primary: the workers start at the same moment, so if each removed
 * stale socket files itself, one could remove the file of the socket the
 * primary had just bound for another. And under cluster, a worker whose listen
 * failed cannot share that address with workers started later (Node numbers a
 * worker's listens on one address and a failed one keeps its number), so a
 * reload that would fail there is refused here instead.
 */
import net from 'node:net';
import { capstanError, isCapstanError } from '../errors.js';
import { removeStaleSocket } from '../transport/listen.js';
import type { ResolvedListener } from './config/resolve.js';

/** What a listener binds: a socket path, or host and port. Port 0 is a fresh port each time. */
export function addressOf(l: ResolvedListener): string {
  return l.transport === 'unix' ? `unix:${l.path}` : l.transport === 'udp' ? `udp:${l.host}:${l.port}` : `${l.host}:${l.port}`;
}

/**
 * Prepares the addresses of `listeners` (none of which may be bound by this
 * server). Throws `ERR_LISTEN_FAILED` naming the listener when one is taken.
 * @param tryPorts also bind each fixed port once, to find it taken before a worker does.
 */
export async function preflight(listeners: readonly ResolvedListener[], tryPorts: boolean): Promise<void> {
  for (const l of listeners) {
    if (l.transport === 'unix') await clearSocketPath(l);
    // A UDP port is bound by one worker only (runtime.ts), never shared, so its bind reports a taken port itself.
    else if (tryPorts && l.port !== 0 && l.transport !== 'udp') await tryPort(l);
  }
}

async function clearSocketPath(l: ResolvedListener): Promise<void> {
  try {
    await removeStaleSocket(l.path as string);
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    throw capstanError(err.code, `listen ${l.name}: ${err.message.replace(/^listen: /, '')}`, { cause: err.cause ?? err, path: err.path, actual: err.actual });
  }
}

function tryPort(l: ResolvedListener): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use: stop the other server or choose another port' : err.message;
      reject(capstanError('ERR_LISTEN_FAILED', `listen ${l.name}: cannot bind ${l.host}:${l.port}: ${why}`, { cause: err }));
    });
    probe.listen({ host: l.host, port: l.port, ipv6Only: l.ipv6Only ?? false, exclusive: true }, () => probe.close(() => resolve()));
  });
}
