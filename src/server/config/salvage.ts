/**
 * What is left of a config once the values the schema rejected are taken
 * out: the later checks (names, ports, codecs, plugins, certificate files)
 * run on the rest, so one bad value does not hide the problems elsewhere.
 */
import { Value } from '@sinclair/typebox/value';
import type { ConfigIssue, ConfigPath } from './explain.js';
import type { Config, ListenerConfig } from './schema.js';

/** A listener that passed the schema, or one whose bad values were removed (so a required key may be missing). */
export type SalvagedListener = Omit<ListenerConfig, 'name' | 'plugin'> & Partial<Pick<ListenerConfig, 'name' | 'plugin'>>;

export interface Salvaged {
  config: Omit<Config, 'listeners'>;
  /** By position in the file; `undefined` where the entry is not a listener at all. */
  listeners: (SalvagedListener | undefined)[];
}

/**
 * A copy of `data` without the values `schemaIssues` name; `undefined` when
 * the top level itself is wrong and nothing can be checked further.
 */
export function salvage(data: unknown, schemaIssues: readonly ConfigIssue[]): Salvaged | undefined {
  if (schemaIssues.some((i) => i.path.length === 0)) return undefined;
  const copy = Value.Clone(data) as Record<string, unknown>;
  const dropped = new Set<number>();
  for (const { path } of schemaIssues) {
    if (path[0] === 'listeners' && path.length === 2 && typeof path[1] === 'number') {
      dropped.add(path[1]);
      continue;
    }
    // Within a list (alpnProtocols, sni) the list goes as a whole: its positions must stay those of the file.
    let last = path.length - 1;
    while (last >= 0 && typeof path[last] !== 'string') last--;
    if (last >= 0) remove(copy, path.slice(0, last + 1));
  }
  const listeners = (Array.isArray(copy.listeners) ? (copy.listeners as unknown[]) : []).map((l, i) =>
    dropped.has(i) || typeof l !== 'object' || l === null || Array.isArray(l) ? undefined : (l as SalvagedListener),
  );
  delete copy.listeners;
  return { config: copy as Omit<Config, 'listeners'>, listeners };
}

function remove(root: Record<string, unknown>, path: ConfigPath): void {
  let node: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    if (typeof node !== 'object' || node === null) return;
    node = (node as Record<string | number, unknown>)[path[i] as string | number];
  }
  if (typeof node === 'object' && node !== null && !Array.isArray(node)) delete (node as Record<string, unknown>)[path[path.length - 1] as string];
}

/**
 * True when `a` and `b` are the same place or one lies inside the other: a
 * later check on a value the schema already rejected (in part or whole) would
 * only repeat the schema's complaint in other words.
 */
export function overlaps(a: ConfigPath, b: ConfigPath): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
