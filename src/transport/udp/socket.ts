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

/** Makes and binds the socket; rejects with `ERR_LISTEN_FAILED`. */
export async function bindSocket(name: string, options: UdpListenOptions<any>, host: string): Promise<dgram.Socket> {
  const type = socketType(host);
  const create = options.createSocket ?? dgram.createSocket;
  const socketOptions: dgram.SocketOptions = { type, ipv6Only: options.ipv6Only === true, lookup: literalLookup as dgram.SocketOptions['lookup'] };
  if (options.recvBufferSize !== undefined) socketOptions.recvBufferSize = options.recvBufferSize;
  if (options.sendBufferSize !== undefined) socketOptions.sendBufferSize = options.sendBufferSize;
  const socket = create(socketOptions);
  const port = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      socket.off('listening', onListening);
      reject(bindFailed(name, `${host}:${port}`, err));
    };
    const onListening = () => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    // Exclusive: in a cluster worker a shared socket would hand one peer's datagrams to every worker in turn, and split its session.
    socket.bind({ port, address: host, exclusive: true });
  });
  return socket;
}
