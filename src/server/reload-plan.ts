/**
 * What a reload does to each listener, decided by comparing the running
 * listeners with the new config's, by name:
 *
 * ```
 *  in the new config only            ─► added
 *  in both, resolved settings equal  ─► unchanged
 *  in both, only `tls` differs       ─► TLS updated in place (certificate rotation): the
 *                                       listening socket and its connections stay
 *  in both, anything else differs    ─► replaced
 *  in the running set only           ─► removed
 * ```
 *
 * Settings are compared as resolved, so certificate file contents count (a
 * rotated file is a TLS change even when its path is the same).
 */
import type { ResolvedListener } from './config/resolve.js';

export interface ReloadPlan {
  added: ResolvedListener[];
  /** Only the TLS material or settings differ: `Server.updateTls`, no new socket. */
  tlsUpdated: ResolvedListener[];
  replaced: ResolvedListener[];
  unchanged: string[];
  removed: string[];
}

export function planReload(running: ReadonlyMap<string, ResolvedListener>, next: readonly ResolvedListener[]): ReloadPlan {
  const plan: ReloadPlan = { added: [], tlsUpdated: [], replaced: [], unchanged: [], removed: [] };
  for (const l of next) {
    const old = running.get(l.name);
    if (old === undefined) plan.added.push(l);
    else if (sameListener(old, l)) plan.unchanged.push(l.name);
    else if (l.transport === 'tls' && sameListener(withoutTls(old), withoutTls(l))) plan.tlsUpdated.push(l);
    else plan.replaced.push(l);
  }
  const names = new Set(next.map((l) => l.name));
  plan.removed = [...running.keys()].filter((name) => !names.has(name));
  return plan;
}

/** Listeners are the same when their resolved settings are (certificates included). */
function sameListener(a: ResolvedListener, b: ResolvedListener): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The settings that need a new listening socket to change. `selfSigned` only says where `tls` came from. */
function withoutTls(l: ResolvedListener): ResolvedListener {
  return { ...l, tls: undefined, selfSigned: undefined, tlsWatch: undefined };
}
