/**
 * What `capstan serve` runs: one process serving every listener, or a primary
 * supervising worker processes. Both look the same to the command, the signal
 * handlers and the admin endpoint.
 */
import type { StatsSource } from '../metrics/admin-server.js';
import type { CloseResult } from '../transport/listen.js';
import type { ResolvedConfig } from './config/resolve.js';
import type { ListenerAddress, ReloadResult } from './runtime.js';

export interface AppServer {
  /** Processes serving connections: 1, or the number of workers. */
  readonly processes: number;
  /** Counters for the admin endpoint. */
  readonly stats: StatsSource;
  /** Starts every listener; rejects (with nothing left bound) when one cannot start. */
  start(): Promise<ListenerAddress[]>;
  /** Moves to a new config; rejects with the old one still running. */
  reload(config: ResolvedConfig): Promise<ReloadResult>;
  /** Graceful stop: stop accepting, drain, close what remains at the grace deadline. */
  shutdown(): Promise<CloseResult>;
}
