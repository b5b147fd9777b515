/**
 * Connection flags, packed into one field so an idle connection stays small.
 * F_OVER_HIGH: a send passed the high-water mark, so no more frames are delivered until a
 * flush brings the queue down. F_IN_DATA: inside a read's pump (or a handler call that one follows), which
 * writes or queues the replies at its end. F_DIRTY: queued for this turn's write (connection.ts).
 */
export const F_USER_PAUSED = 1;
export const F_BP_PAUSED = 2;
export const F_NEED_DRAIN = 4;
export const F_IN_DATA = 8;
export const F_IN_LOOP = 16;
export const F_GOT_FIRST_BYTE = 32;
export const F_PEER_ENDED = 64;
export const F_PEER_END_HANDLED = 128;
export const F_PEER_ENDED_FIRST = 256;
export const F_OPENED = 512;
export const F_DRAINING = 1024;
export const F_DRAIN_LISTENING = 2048;
export const F_DRAIN_QUEUED = 4096;
export const F_OVER_HIGH = 8192;
export const F_DIRTY = 16384;
/** The listener counted this connection against its address's limit (behind a proxy, once the header named the client). */
export const F_ADDRESS_COUNTED = 32768;
/** A filter holds too many of the peer's bytes not yet handed on: the socket is not read until it catches up. */
export const F_FILTER_HELD = 65536;
/** The protocol on top holds frame delivery (a WebSocket inflating a message off the event loop): frames wait, the socket is not read. */
export const F_FRAMES_HELD = 131072;
