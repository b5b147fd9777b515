/**
 * Messages between the serving thread and the admin thread (admin-server.ts
 * and admin-thread.ts), over a MessageChannel of their own.
 */
import type { MessagePort } from 'node:worker_threads';
import type { LogMethod } from '../logger.js';
import type { AdminLimits } from './admin-guard.js';
import type { HistoryOptions } from './admin-history.js';

/** What the admin thread asks the serving thread. */
export type Question = 'snapshot' | 'ready' | 'ping';

/**
 * Serving thread → admin thread. A snapshot travels as JSON text: under load,
 * posting the object (a structured clone) took about a millisecond of the
 * serving thread, stringifying it about 40 µs, and the text is what
 * `/stats.json` serves anyway.
 */
export type ToAdminThread = { t: 'reply'; id: number; snapshotJson?: string; ready?: boolean; error?: string } | { t: 'close' };

/** Admin thread → serving thread. */
export type FromAdminThread =
  | { t: 'listening'; host: string; port: number }
  | { t: 'bind-failed'; message: string; code?: string | undefined }
  /** `quiet`: a failure is the asker's to report (the history sampler logs when failures start and stop, not each one). */
  | { t: 'ask'; id: number; what: Question; quiet?: boolean }
  | { t: 'log'; level: LogMethod; obj: Record<string, unknown>; msg?: string | undefined };

/** The admin thread's `workerData`. */
export interface AdminThreadData {
  host: string;
  port: number;
  token?: string | undefined;
  limits: AdminLimits;
  /** Keep the dashboard's history (null: off). */
  history: HistoryOptions | null;
  channel: MessagePort;
}
