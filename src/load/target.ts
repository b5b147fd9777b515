/**
 * Load targets: the URL a run is pointed at, and one driver per scheme that
 * opens a connection to it.
 *
 * ```
 *   tcp://127.0.0.1:7000    tls://example.test:7443    unix:///run/app.sock    7000 → tcp://127.0.0.1:7000
 *   ws://127.0.0.1:8080/echo?room=1    wss://example.test/echo    udp://127.0.0.1:7002
 * ```
 *
 * A driver hands back a socket that emits its `readyEvent` once messages may
 * flow, and delivers reads to the `onread` callback (a shared buffer, valid only
 * during the call, so a read costs no allocation). Schemes whose connections
 * need a handshake before traffic (`ws://`: an HTTP upgrade) add a driver
 * here. `udp://` is not a stream: it is parsed here and driven by its own
 * engine (udp-engine.ts).
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { capstanError } from '../errors.js';
import type { ResolvedLoadOptions } from './options.js';
import { websocketDriver } from './websocket.js';

export interface Target {
  readonly scheme: string;
  /** Host for network schemes ('' for unix). IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** Socket path for `unix`. */
  readonly path: string;
  /** The request target for `ws`/`wss` (`/echo?room=1`), else `''`. */
  readonly resource: string;
  /** The target as written in messages. */
  readonly display: string;
}

/** Called with `this` = the socket for each read of `nread` bytes into the shared `buf`. */
export type OnRead = (this: Socket, nread: number, buf: Buffer) => void;

export interface Driver {
  /** Starts connecting. Errors arrive as the socket's `error` event. */
  dial(target: Target, options: ResolvedLoadOptions, localAddress: string | undefined, onread: OnRead): Socket;
  /** The socket event after which messages may be sent. */
  readonly readyEvent: string;
  /** Whether `sourceAddresses` apply. */
  readonly network: boolean;
  /** Ends a connection politely (a WebSocket close frame first); without it, `socket.end()`. */
  end?(socket: Socket): void;
}

/** One read buffer for every connection of the process: reads are consumed before the callback returns. */
const shared = Buffer.allocUnsafe(256 * 1024);

const tcp: Driver = {
  readyEvent: 'connect',
  network: true,
  dial(target, _options, localAddress, onread) {
    return net.connect({ host: target.host, port: target.port, localAddress, noDelay: true, allowHalfOpen: true, onread: { buffer: shared, callback: onread as never } });
  },
};

const secure: Driver = {
  readyEvent: 'secureConnect',
  network: true,
  dial(target, options, localAddress, onread) {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      localAddress,
      servername: options.tls.servername ?? (net.isIP(target.host) === 0 ? target.host : undefined),
      rejectUnauthorized: options.tls.rejectUnauthorized,
      ca: options.tls.ca,
      allowHalfOpen: true,
      onread: { buffer: shared, callback: onread as never },
    } as tls.ConnectionOptions);
    socket.setNoDelay(true);
    return socket;
  },
};

const unix: Driver = {
  readyEvent: 'connect',
  network: false,
  dial(target, _options, _localAddress, onread) {
    return net.connect({ path: target.path, allowHalfOpen: true, onread: { buffer: shared, callback: onread as never } });
  },
};

const DRIVERS: Record<string, Driver> = { tcp, tls: secure, unix, ws: websocketDriver(tcp), wss: websocketDriver(secure) };
const DEFAULT_PORTS: Record<string, number> = { ws: 80, wss: 443 };
/** Every scheme the load client speaks: the stream drivers, and datagrams. */
const SCHEMES: readonly string[] = [...Object.keys(DRIVERS), 'udp'];

export function driverFor(target: Target): Driver {
  return DRIVERS[target.scheme] as Driver;
}

function invalid(text: string, why: string): never {
  throw capstanError('ERR_INVALID_OPTION', `load: target ${JSON.stringify(text)} ${why}; write tcp://HOST:PORT, tls://HOST:PORT, unix:///PATH, ws[s]://HOST:PORT/PATH or udp://HOST:PORT`, {
    path: 'target',
    actual: text,
  });
}

/** Parses a target URL. @throws CapstanError `ERR_INVALID_OPTION` saying what is wrong with it. */
export function parseTarget(text: string): Target {
  let url = text;
  if (/^[0-9]+$/.test(url)) url = `tcp://127.0.0.1:${url}`;
  else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) url = `tcp://${url}`;
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase();
  if (!SCHEMES.includes(scheme)) {
    invalid(text, `uses scheme ${scheme}://, which the load client does not speak (it speaks ${SCHEMES.join(', ')})`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    invalid(text, 'is not a valid URL');
  }
  if (scheme === 'unix') {
    const path = decodeURIComponent(parsed.pathname);
    if (parsed.host !== '' || path === '' || path === '/') invalid(text, 'needs an absolute socket path after unix://');
    return { scheme, host: '', port: 0, path, resource: '', display: `unix://${path}` };
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? (DEFAULT_PORTS[scheme] ?? 0) : Number(parsed.port);
  if (host === '') invalid(text, 'has no host');
  if (!Number.isInteger(port) || port < 1 || port > 65535) invalid(text, 'needs a port from 1 to 65535');
  const where = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (scheme === 'ws' || scheme === 'wss') {
    const resource = `${parsed.pathname === '' ? '/' : parsed.pathname}${parsed.search}`;
    return { scheme, host, port, path: '', resource, display: `${where}${resource}` };
  }
  if (parsed.pathname !== '' && parsed.pathname !== '/') invalid(text, `has a path (${parsed.pathname}), which ${scheme}:// does not use`);
  return { scheme, host, port, path: '', resource: '', display: where };
}
