/**
 * The messages between the primary and its worker processes, and the
 * request/reply plumbing over a child's IPC channel.
 *
 * ```
 *  primary                                   worker
 *           ◄─ hello                           (listening for messages now)
 *  ──────── start {id, config, reusePort} ─►  starts its listeners
 *           ◄─ ready {listeners} | failed {error}
 *  ──────── reload {seq, config} ──────────►  applies the listener diff
 *           ◄─ reloaded {seq, result | error}
 *  ──────── snapshot {seq} ────────────────►  collects its counters
 *           ◄─ snapshot {seq, snapshot}
 *  ──────── stop ──────────────────────────►  drains
 *           ◄─ stopped {ended, forced}         then exits 0
 *
 *  pub/sub, any time after start (src/pubsub/worker-relay.ts):
 *           ◄─ pubsub {pubs, interest}         a turn's publishes, topics gained or lost
 *  ──────── pubsub {pubs} ─────────────────►  other workers' publishes to its topics
 * ```
 */
import type { ChildProcess } from 'node:child_process';
import { capstanError } from '../errors.js';
import type { WorkerSnapshot } from '../metrics/snapshot.js';
import type { RelayMessage } from '../pubsub/worker-relay.js';
import type { CloseResult } from '../transport/listen.js';
import type { ResolvedConfig } from './config/resolve.js';
import type { ListenerAddress, ReloadResult } from './runtime.js';

export interface ErrorInfo {
  code?: string;
  message: string;
}

export type ToWorker =
  | { t: 'capstan:start'; id: string; config: ResolvedConfig; reusePort: boolean }
  | { t: 'capstan:reload'; seq: number; config: ResolvedConfig }
  | { t: 'capstan:snapshot'; seq: number }
  | { t: 'capstan:stop' }
  | RelayMessage;

export type FromWorker =
  | { t: 'capstan:hello' }
  | { t: 'capstan:ready'; listeners: ListenerAddress[] }
  | { t: 'capstan:failed'; error: ErrorInfo }
  | { t: 'capstan:reloaded'; seq: number; result?: ReloadResult; error?: ErrorInfo }
  | { t: 'capstan:snapshot'; seq: number; snapshot: WorkerSnapshot }
  | { t: 'capstan:stopped'; result: CloseResult }
  | RelayMessage;

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('capstan:');
}

export function errorInfo(err: unknown): ErrorInfo {
  const e = err as { code?: unknown; message?: unknown };
  return { ...(typeof e?.code === 'string' ? { code: e.code } : {}), message: typeof e?.message === 'string' ? e.message : String(err) };
}

type Reply = Extract<FromWorker, { seq: number }>;

/** Request/reply over one worker's IPC channel, matched by sequence number. */
export class WorkerChannel {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (m: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly child: ChildProcess) {}

  /** Sends a message; `done` runs once it is written to the channel. */
  send(message: ToWorker, done?: () => void): boolean {
    if (!this.child.connected) return false;
    try {
      this.child.send(message, done);
      return true;
    } catch {
      // The channel closed between the check and the send: the exit handler deals with the worker.
      return false;
    }
  }

  /** Sends a request and resolves with the matching reply, or rejects after `timeoutMs`. */
  request<R extends Reply>(make: (seq: number) => ToWorker, timeoutMs: number): Promise<R> {
    const seq = ++this.seq;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(capstanError('ERR_WORKER', `worker did not answer within ${timeoutMs} ms`, { limit: timeoutMs }));
      }, timeoutMs);
      this.pending.set(seq, { resolve: resolve as (m: Reply) => void, reject, timer });
      if (!this.send(make(seq))) {
        clearTimeout(timer);
        this.pending.delete(seq);
        reject(capstanError('ERR_WORKER', 'worker is gone'));
      }
    });
  }

  /** Routes a reply to its request; returns false for messages that are not replies. */
  reply(m: FromWorker): boolean {
    if (!('seq' in m)) return false;
    const p = this.pending.get(m.seq);
    if (p === undefined) return true;
    clearTimeout(p.timer);
    this.pending.delete(m.seq);
    p.resolve(m);
    return true;
  }

  /** Fails every outstanding request (the worker exited). */
  close(): void {
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(capstanError('ERR_WORKER', 'worker exited'));
      this.pending.delete(seq);
    }
  }
}
