/** Tests' WebSocket peer: the `ws` npm client (written by others than us), with waits that give up. */
import { once } from 'node:events';
import WebSocket, { type ClientOptions } from 'ws';

export interface WsMessage {
  /** Text as a string; binary as hex. */
  readonly data: string;
  readonly isBinary: boolean;
}

export interface WsPeer {
  readonly socket: WebSocket;
  /** Every message received so far, in order. */
  readonly messages: WsMessage[];
  /** Resolves with the first `n` messages once they have arrived (30 s at most). */
  received(n: number): Promise<WsMessage[]>;
  /** Resolves with the close code and reason once the connection is closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Sends a close frame and resolves with what the server answered. */
  close(code?: number): Promise<{ code: number; reason: string }>;
}

const WAIT_MS = 30_000;

/** Opens a WebSocket to `url` (permessage-deflate off unless `options` turn it on). */
export async function wsConnect(url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<WsPeer> {
  const socket = new WebSocket(url, protocols, { perMessageDeflate: false, handshakeTimeout: WAIT_MS, ...options });
  const messages: WsMessage[] = [];
  let wake: (() => void) | null = null;
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    messages.push({ data: isBinary ? data.toString('hex') : data.toString(), isBinary });
    wake?.();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  void closed.then(() => wake?.());
  await once(socket, 'open');
  return {
    socket,
    messages,
    received(n) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${messages.length} of ${n} messages within ${WAIT_MS} ms: ${JSON.stringify(messages)}`)), WAIT_MS);
        const check = () => {
          if (messages.length < n && socket.readyState !== WebSocket.CLOSED) return;
          clearTimeout(timer);
          wake = null;
          if (messages.length >= n) resolve(messages.slice(0, n));
          else reject(new Error(`closed after ${messages.length} of ${n} messages: ${JSON.stringify(messages)}`));
        };
        wake = check;
        check();
      });
    },
    closed,
    close(code = 1000) {
      socket.close(code);
      return closed;
    },
  };
}

/** The HTTP status a server answers an upgrade to `url` with, when it refuses it. */
export function wsRefusal(url: string, headers: Record<string, string> = {}): Promise<number> {
  const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: WAIT_MS, headers });
  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      socket.terminate();
      reject(new Error(`${url} accepted the upgrade`));
    });
    socket.once('error', (err) => reject(err));
  });
}
