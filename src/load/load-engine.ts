/**
 * What a runner drives in each process: an engine for stream targets
 * (`engine.ts`: tcp, tls, unix, ws, wss) or for datagram targets
 * (`udp-engine.ts`), with the same phases and the same reports.
 */
import { Engine, type EngineSlice } from './engine.js';
import type { ResolvedLoadOptions } from './options.js';
import type { PartialResult, Sample } from './partial.js';
import { UdpEngine } from './udp-engine.js';

export interface LoadEngine {
  /** The payload kind in use. */
  readonly payload: string;
  /** Opens this process's sockets; resolves with how many opened. */
  connect(): Promise<number>;
  /** Runs the traffic; resolves once it stopped and due replies are in (or counted lost). */
  run(): Promise<void>;
  /** Closes every socket. */
  finish(): Promise<void>;
  /** Ends the run early. */
  stop(): void;
  /** Progress since the previous call. */
  sample(): Sample;
  /** This process's result; call after {@link finish}. */
  result(): PartialResult;
}

/** The engine for the run's target. */
export function createEngine(options: ResolvedLoadOptions, slice: EngineSlice): LoadEngine {
  return /^udp:\/\//i.test(options.target) ? new UdpEngine(options, slice) : new Engine(options, slice);
}
