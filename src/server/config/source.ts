/**
 * Where a config came from, and where in it a key path lies: every config
 * error names the file, the line and column, and the key path, so the user
 * can go straight to it.
 *
 * YAML and JSON go through the same parser (YAML 1.2 reads JSON), which keeps
 * the source range of every node.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import { capstanError, type CapstanError } from '../../errors.js';
import type { ConfigIssue, ConfigPath } from './explain.js';

export interface Position {
  line: number;
  col: number;
}

/** A parsed config file: its text as data, and a way back from a key path to its position. */
export interface ConfigSource {
  /** The file as given (or `(built-in default)`). */
  readonly file: string;
  /** The directory relative paths in the config are resolved against. */
  readonly dir: string;
  /** The parsed data, before validation. */
  readonly data: unknown;
  /** The position of the value at `path` (or of its key, or of the nearest parent that exists). */
  locate(path: ConfigPath, atKey?: boolean): Position | undefined;
}

/** `listeners[0].tls.certFile`: how messages and docs spell a path. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(top level)' : out;
}

/** Parses config text; a syntax error is an `ERR_CONFIG` naming the file, line and column. */
export function parseConfigText(file: string, dir: string, text: string): ConfigSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const fail = doc.errors[0];
  if (fail !== undefined) {
    const at = lines.linePos(fail.pos[0]);
    const message = (fail.message.split('\n')[0] ?? fail.message).replace(/ at line \d+, column \d+:?$/, '');
    throw capstanError('ERR_CONFIG', `${file}:${at.line}:${at.col}: cannot parse the config: ${message}`, { path: '' });
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  return {
    file,
    dir,
    data: data === null || data === undefined ? {} : data,
    locate: (path, atKey = false) => locate(doc, lines, path, atKey),
  };
}

/** A source for a config built in code (the default config): no positions to point at. */
export function inMemorySource(file: string, dir: string, data: unknown): ConfigSource {
  return { file, dir, data, locate: () => undefined };
}

function locate(doc: Document, lines: LineCounter, path: ConfigPath, atKey: boolean): Position | undefined {
  let node: Node | null | undefined = doc.contents as Node | null;
  let last: Node | null | undefined = node;
  for (let i = 0; i < path.length && node !== null && node !== undefined; i++) {
    const seg = path[i];
    const isLast = i === path.length - 1;
    last = node;
    if (isMap(node)) {
      const pair: Pair | undefined = node.items.find((p: Pair) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) return position(lines, node);
      if (isLast && atKey) return position(lines, pair.key as Node);
      node = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg] as Node | undefined;
    } else {
      return position(lines, node);
    }
  }
  return position(lines, node ?? last);
}

function position(lines: LineCounter, node: Node | null | undefined): Position | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : lines.linePos(start);
}

/** One `ERR_CONFIG` listing every issue as `file:line:col: key.path: message`. */
export function configError(source: Pick<ConfigSource, 'file' | 'locate'>, issues: readonly ConfigIssue[]): CapstanError {
  // In document order, so the list reads top to bottom like the file.
  const located = issues
    .map((issue) => ({ issue, at: source.locate(issue.path, issue.atKey === true) }))
    .sort((a, b) => (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.col ?? 0) - (b.at?.col ?? 0));
  const lines = located.map(({ issue, at }) => {
    const where = at === undefined ? source.file : `${source.file}:${at.line}:${at.col}`;
    return `${where}: ${formatPath(issue.path)}: ${issue.message}`;
  });
  const first = located[0]?.issue;
  return capstanError('ERR_CONFIG', lines.join('\n'), {
    path: first === undefined ? '' : formatPath(first.path),
    actual: issues,
  });
}
