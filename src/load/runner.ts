/**
 * A runner drives the engines of a load run through their phases: one engine
 * in this process, or one per worker process ({@link WorkerFleet}). Both look
 * the same to {@link runLoad}.
 */
import { createEngine, type LoadEngine } from './load-engine.js';
import type { ResolvedLoadOptions } from './options.js';
import type { PartialResult, Sample } from './partial.js';

export interface Runner {
  /** Opens the connections; resolves with how many opened. */
  connect(): Promise<number>;
  /** Runs the traffic; resolves once it stopped and due replies are in. */
  run(): Promise<void>;
  /** Closes everything; resolves with each process's result. */
  finish(): Promise<PartialResult[]>;
  /** Ends the run early. */
  stop(): void;
  /** Progress of each process since the previous call. */
  samples(): Sample[];
  /** The payload kind in use. */
  readonly payload: string;
}

export class LocalRunner implements Runner {
  private readonly engine: LoadEngine;

  constructor(options: ResolvedLoadOptions) {
    this.engine = createEngine(options, { first: 0, count: options.connections, worker: 0 });
  }

  get payload(): string {
    return this.engine.payload;
  }

  connect(): Promise<number> {
    return this.engine.connect();
  }

  run(): Promise<void> {
    return this.engine.run();
  }

  async finish(): Promise<PartialResult[]> {
    await this.engine.finish();
    return [this.engine.result()];
  }

  stop(): void {
    this.engine.stop();
  }

  samples(): Sample[] {
    return [this.engine.sample()];
  }
}
