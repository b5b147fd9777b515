/**
 * The config reference table in docs/server.md, rendered from the schema so
 * the docs cannot drift from what the loader accepts (a test compares them).
 *
 * To refresh the docs after changing the schema:
 *
 *   npx tsc -p . && node dist/src/server/config/reference.js docs/server.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Kind, type TSchema } from '@sinclair/typebox';
import { choicesOf } from './explain.js';
import { ConfigSchema, type AnySchema } from './schema.js';

export const BEGIN = '<!-- config-reference:begin (generated from src/server/config/schema.ts) -->';
export const END = '<!-- config-reference:end -->';

interface Row {
  key: string;
  type: string;
  description: string;
}

type Node = AnySchema & { properties?: Record<string, TSchema>; required?: string[]; anyOf?: TSchema[]; items?: TSchema };

/** The reference table, one row per key, parents before children. */
export function renderReference(): string {
  const rows: Row[] = [];
  walkObject(ConfigSchema as Node, '', rows);
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| key | accepts | meaning |',
    '|-----|---------|---------|',
    ...rows.map((r) => `| \`${r.key}\` | ${escape(r.type)} | ${escape(r.description)} |`),
  ].join('\n');
}

function walkObject(schema: Node, prefix: string, rows: Row[]): void {
  const required = new Set(schema.required ?? []);
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    const node = child as Node;
    const description = `${required.has(name) ? '**Required.** ' : ''}${node.description ?? ''}`.trim();
    rows.push({ key, type: typeOf(node), description });
    const inner = objectInside(node);
    if (inner !== undefined) walkObject(inner.schema, `${key}${inner.suffix}`, rows);
  }
}

/** The object schema to describe below a key: itself, a list's items, or a union's object form. */
function objectInside(node: Node): { schema: Node; suffix: string } | undefined {
  if (node[Kind] === 'Object') return { schema: node, suffix: '' };
  if (node[Kind] === 'Array' && (node.items as Node | undefined)?.[Kind] === 'Object') return { schema: node.items as Node, suffix: '[]' };
  const objectForm = node.anyOf?.find((b) => (b as Node)[Kind] === 'Object') as Node | undefined;
  return objectForm === undefined ? undefined : { schema: objectForm, suffix: '' };
}

function typeOf(node: Node): string {
  if (node.expected !== undefined) return node.expected;
  const choices = choicesOf(node);
  if (choices !== undefined) return `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`;
  const n = node as Record<string, unknown>;
  switch (node[Kind]) {
    case 'Integer': {
      const min = n.minimum as number | undefined;
      const max = n.maximum as number | undefined;
      return max !== undefined ? `integer ${min ?? ''}–${max}` : min !== undefined ? `integer ≥ ${min}` : 'integer';
    }
    case 'Number':
      return 'number';
    case 'String':
      return n.minLength !== undefined && (n.minLength as number) > 1 ? `string (≥ ${String(n.minLength)} chars)` : 'string';
    case 'Boolean':
      return 'true or false';
    case 'Array':
      return 'list';
    case 'Object':
    case 'Record':
      return 'mapping';
    case 'Union':
      return (node.anyOf ?? []).map((b) => typeOf(b as Node)).join(' or ');
    case 'Literal':
      return JSON.stringify(n.const);
    default:
      return 'value';
  }
}

/** The docs text with the generated table between the markers replaced. */
export function withReference(doc: string): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`the document has no ${BEGIN} … ${END} section`);
  return `${doc.slice(0, start + BEGIN.length)}\n${renderReference()}\n${doc.slice(end)}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2] ?? 'docs/server.md';
  writeFileSync(file, withReference(readFileSync(file, 'utf8')));
  process.stdout.write(`updated the config reference in ${file}\n`);
}
