/**
 * The listener's socket: udp4 or udp6 by the host, bound before `listen`
 * resolves.
 *
 * Node resolves the destination of every `send` on an unconnected socket
 * through the socket's `lookup`, and the default (`dns.lookup`) answers even
 * an IP literal through `process.nextTick`: one deferred callback per
 * datagram. A session's peer is always an IP literal, so this lookup answers
 * literals at once and hands anything else to `dns.lookup`.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import { bindFailed } from '../bind-error.js';
import type { UdpListenOptions } from './options.js';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

function literalLookup(hostname: string, options: dns.LookupOneOptions | number, callback: LookupCallback): void {
  const family = isIP(hostname);
  if (family !== 0) return callback(null, hostname, family);
  dns.lookup(hostname, options as dns.LookupOneOptions, callback);
}

export function socketType(host: string): 'udp4' | 'udp6' {
  return host.includes(':') ? 'udp6' : 'udp4';
}

/** What making a UDP socket takes, from a listener's or a client's options. */
export interface SocketSettings {
  ipv6Only?: boolean;
  reuseAddr?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  createSocket?: (options: dgram.SocketOptions) => dgram.Socket;
}

/** Makes a socket of `type` with the literal-answering lookup. */
export function createUdpSocket(type: 'udp4' | 'udp6', settings: SocketSettings): dgram.Socket {
  const create = settings.createSocket ?? dgram.createSocket;
  const socketOptions: dgram.SocketOptions = { type, ipv6Only: settings.ipv6Only === true, lookup: literalLookup as dgram.SocketOptions['lookup'] };
  if (settings.reuseAddr === true) socketOptions.reuseAddr = true;
  if (settings.recvBufferSize !== undefined) socketOptions.recvBufferSize = settings.recvBufferSize;
  if (settings.sendBufferSize !== undefined) socketOptions.sendBufferSize = settings.sendBufferSize;
  return create(socketOptions);
}

/** Binds `socket`; rejects with the bind's error. */
export function bindTo(socket: dgram.Socket, port: number, address: string | undefined, exclusive: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      socket.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind({ port, address, exclusive });
  });
}

/** Makes and binds the socket; rejects with `ERR_LISTEN_FAILED`. */
export async function bindSocket(name: string, options: UdpListenOptions<any>, host: string): Promise<dgram.Socket> {
  const socket = createUdpSocket(socketType(host), options);
  const port = options.port ?? 0;
  try {
    // Exclusive: in a cluster worker a shared socket would hand one peer's datagrams to every worker in turn, and split its session.
    await bindTo(socket, port, host, true);
  } catch (err) {
    throw bindFailed(name, `${host}:${port}`, err as NodeJS.ErrnoException);
  }
  return socket;
}
