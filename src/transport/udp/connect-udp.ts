/**
 * `connect({ transport: 'udp', … })`: a connect()ed UDP socket with a session
 * for its peer, on the same handler model as a UDP listener.
 *
 * ```ts
 * const client = await connect({
 *   transport: 'udp',
 *   host: '127.0.0.1',
 *   port: 7002,
 *   handler: { message(session, datagram) { console.log(String(datagram)); } },
 * });
 * client.send('hello');
 * const reply = await client.request('ping', { timeoutMs: 500, retries: 3 });
 * await client.close();
 * ```
 *
 * Options are validated before anything binds; a host name is resolved once,
 * and the family of its address makes the socket udp4 or udp6.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { capstanError } from '../../errors.js';
import { sharedTimerWheel } from '../../timers/timer-wheel.js';
import { validateOptions } from '../options-schema.js';
import { UdpClientImpl } from './client.js';
import { DEFAULT_UDP_CLIENT_LIMITS, UdpConnectOptionsSchema, type UdpClient, type UdpConnectOptions } from './client-options.js';
import { checkMulticast } from './multicast.js';
import { createUdpSocket } from './socket.js';

/** Connects a UDP client. Rejects with `ERR_INVALID_OPTION`/`ERR_UNKNOWN_OPTION` before binding, `ERR_CONNECT_FAILED` or `ERR_MULTICAST`. */
export async function connectUdp<D = unknown>(options: UdpConnectOptions<D>): Promise<UdpClient<D>> {
  validateOptions('connect', UdpConnectOptionsSchema, options);
  if (typeof options.handler !== 'object' || options.handler === null) {
    throw capstanError('ERR_INVALID_OPTION', 'connect: option handler must be an object of handler methods', { path: 'handler' });
  }
  const host = options.host ?? '127.0.0.1';
  let address = host;
  let family = isIP(host);
  if (family === 0) {
    try {
      ({ address, family } = await dns.promises.lookup(host));
    } catch (err) {
      throw capstanError('ERR_CONNECT_FAILED', `connect udp://${host}:${options.port}: cannot resolve ${host}: ${(err as Error).message}`, { cause: err });
    }
  }
  const type = family === 6 ? 'udp6' : 'udp4';
  checkMulticast('connect', type, options.multicast);
  if (options.localAddress !== undefined && isIP(options.localAddress) !== family) {
    throw capstanError('ERR_INVALID_OPTION', `connect: option localAddress must be an IPv${family} address to reach ${address}, got ${JSON.stringify(options.localAddress)}`, { path: 'localAddress' });
  }
  const limits = { ...DEFAULT_UDP_CLIENT_LIMITS, ...options.limits };
  const client = new UdpClientImpl<D>(options, createUdpSocket(type, options), type, limits, options.timerWheel ?? sharedTimerWheel());
  return client.start(address);
}
