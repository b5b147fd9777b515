/**
 * The socket's side of a connection: module-level listeners shared by every
 * connection (no closure per socket), found through a symbol on the socket.
 * A connection moves to another socket when TLS wraps its first one
 * (accept-time TLS after a PROXY header, or STARTTLS): `detach` the old,
 * `attach` the new.
 */
import type { Socket } from 'node:net';
import type { Connection } from './connection.js';

const kConn = Symbol('capstan.connection');
type OwnedSocket = Socket & { [kConn]?: Connection<any> };

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  (this[kConn] as Connection<any>).receive(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  (this[kConn] as Connection<any>).peerEnd();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  (this[kConn] as Connection<any>).socketError(err);
}
function onSocketClose(this: OwnedSocket): void {
  (this[kConn] as Connection<any>).finalize();
}
function onSocketDrain(this: OwnedSocket): void {
  (this[kConn] as Connection<any>).drained();
}

/** Makes `conn` the owner of `socket`'s events. */
export function attachSocket(conn: Connection<any>, socket: Socket): void {
  const s = socket as OwnedSocket;
  s[kConn] = conn;
  s.on('data', onSocketData);
  s.on('end', onSocketEnd);
  s.on('error', onSocketError);
  s.on('close', onSocketClose);
}

/** Stops `socket`'s events reaching its connection (before TLS takes the socket over). */
export function detachSocket(socket: Socket): void {
  const s = socket as OwnedSocket;
  s.off('data', onSocketData);
  s.off('end', onSocketEnd);
  s.off('error', onSocketError);
  s.off('close', onSocketClose);
  s.off('drain', onSocketDrain);
  s[kConn] = undefined;
}

/** Asks `socket` to tell its connection when its queue is empty again (once per connection). */
export function listenForDrain(socket: Socket): void {
  socket.on('drain', onSocketDrain);
}
