/** A WebSocket server for pub/sub tests: sockets subscribe to the topics named in `?t=a,b`, and `pub:<topic>:<text>` publishes. */
import { listen, silentLogger, websocket, type LimitsOptions, type PublishBackend, type RemoteDelivery, type Server, type WebSocket, type WebSocketServer } from '../../src/index.js';
import type { CloseReason } from '../../src/connection/close-reason.js';
import { portOf } from '../support/net.js';

export interface PubSubServer {
  readonly server: Server;
  readonly wss: WebSocketServer;
  readonly url: string;
  /** Every socket the server accepted, in order. */
  readonly sockets: WebSocket[];
  /** The typed close reason of each closed socket, by its place in `sockets`. */
  readonly closes: Map<number, CloseReason>;
  close(): Promise<void>;
}

export async function pubsubServer(opts: { limits?: LimitsOptions; backend?: PublishBackend; maxTopicsPerSocket?: number } = {}): Promise<PubSubServer> {
  const sockets: WebSocket[] = [];
  const closes = new Map<number, CloseReason>();
  const index = new Map<WebSocket, number>();
  const pubsub = { ...(opts.backend !== undefined ? { backend: opts.backend } : {}), ...(opts.maxTopicsPerSocket !== undefined ? { maxTopicsPerSocket: opts.maxTopicsPerSocket } : {}) };
  const wss: WebSocketServer = websocket({
    pubsub,
    handler: {
      open(ws) {
        index.set(ws, sockets.length);
        sockets.push(ws);
        const t = new URL(ws.url, 'http://x').searchParams.get('t');
        if (t !== null && t !== '') for (const topic of t.split(',')) ws.subscribe(topic);
      },
      message(_ws, data) {
        const text = data.toString();
        const m = /^pub:([^:]+):(.*)$/s.exec(text);
        if (m !== null) wss.publish(m[1] as string, m[2] as string);
      },
      close(ws, _code, _reason, cause) {
        closes.set(index.get(ws) as number, cause);
        index.delete(ws);
      },
    },
  });
  const server = await listen({ port: 0, logger: silentLogger, websocket: wss, ...(opts.limits !== undefined ? { limits: opts.limits } : {}) });
  return { server, wss, url: `ws://127.0.0.1:${portOf(server)}/`, sockets, closes, close: () => server.close({ graceMs: 1_000 }).then(() => undefined) };
}

/** A backend that records what the server tells it, and carries nothing. */
export class RecordingBackend implements PublishBackend {
  /** Topics the server reported gaining their first subscriber, one entry per report. */
  readonly ups: string[] = [];
  /** Topics the server reported losing their last subscriber. */
  readonly downs: string[] = [];
  readonly published: string[] = [];
  deliver: RemoteDelivery | null = null;
  open(deliver: RemoteDelivery): void {
    this.deliver = deliver;
  }
  publish(topic: string): boolean {
    this.published.push(topic);
    return true;
  }
  subscribed(topic: string): void {
    this.ups.push(topic);
  }
  unsubscribed(topic: string): void {
    this.downs.push(topic);
  }
  close(): void {
    this.deliver = null;
  }
}
