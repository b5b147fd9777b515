/**
 * Where a connection's filter chain hands its bytes back: to the codec
 * (read-path.ts) and to the socket (write-path.ts). Kept apart so the chain
 * (src/pipeline/) needs no import of the connection's paths.
 */
import type { ChainEnds } from '../pipeline/filter-chain.js';
import { acceptBytes, peerEnded } from './read-path.js';
import { filterSettled, writeBatch } from './write-path.js';

export const CONNECTION_ENDS: ChainEnds = {
  deliver: acceptBytes,
  delivered: peerEnded,
  // writeBatch itself, not a wrapper: one call less per batch (its count is not needed here).
  write: writeBatch,
  settled: filterSettled,
};
