/**
 * `listen({ transport: 'udp', … })`: a UDP listener with a session per peer.
 *
 * ```ts
 * const server = await listen({
 *   transport: 'udp',
 *   port: 7002,
 *   handler: { message(session, datagram) { session.send(datagram); } },
 * });
 * ```
 *
 * Options are validated before anything binds. See docs/udp.md for the
 * contract: a datagram is one frame, records are never joined across
 * datagrams, and every limit drops (and counts) rather than queues.
 */
import { checkHandler, validateOptions } from '../options-schema.js';
import { UdpListener } from './listener.js';
import { checkMulticast } from './multicast.js';
import { socketType } from './socket.js';
import { UdpListenOptionsSchema, type UdpListenOptions, type UdpServer } from './options.js';

/** Starts a UDP listener. Rejects with `ERR_INVALID_OPTION`/`ERR_UNKNOWN_OPTION` before binding, or `ERR_LISTEN_FAILED`. */
export async function listenUdp<D = unknown>(options: UdpListenOptions<D>): Promise<UdpServer<D>> {
  validateOptions('listen', UdpListenOptionsSchema, options);
  checkHandler(options.handler);
  checkMulticast('listen', socketType(options.host ?? '127.0.0.1'), options.multicast);
  const listener = new UdpListener<D>(options);
  await listener.start();
  return listener;
}
