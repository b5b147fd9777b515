/**
 * Turns schema validation errors into config issues a person can act on:
 * which key, what was expected, what was found ("expected an integer from 0 to
 * 65535, got "seven""), and for a misspelt key or choice, the one it
 * probably meant.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { closest, didYouMean, editDistance } from '../../suggest.js';
import type { AnySchema } from './schema.js';

/** A path into the config: keys and list indexes. */
export type ConfigPath = readonly (string | number)[];

/** One thing wrong with a config, at one place in it. */
export interface ConfigIssue {
  readonly path: ConfigPath;
  /** What is wrong, in words: "expected …, got …", "unknown key …", "is required". */
  readonly message: string;
  /** Point at the key itself rather than its value (unknown keys). */
  readonly atKey?: boolean;
}

const checks = new WeakMap<TSchema, TypeCheck<TSchema>>();

function compiled(schema: TSchema): TypeCheck<TSchema> {
  let c = checks.get(schema);
  if (c === undefined) {
    c = TypeCompiler.Compile(schema);
    checks.set(schema, c);
  }
  return c;
}

/** Validates `value` against `schema`; every issue found, one per path, in document order. */
export function explain(schema: TSchema, value: unknown, prefix: ConfigPath = []): ConfigIssue[] {
  const check = compiled(schema);
  if (check.Check(value)) return [];
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const error of check.Errors(value)) {
    const path = [...prefix, ...pointerToPath(error.path)];
    const key = path.join('\u0000');
    // One message per place; a parent already explained covers its children.
    if (seen.has(key) || [...seen].some((s) => key.startsWith(`${s}\u0000`))) continue;
    seen.add(key);
    issues.push(...describeError(error, path));
  }
  return issues;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^(0|[1-9][0-9]*)$/.test(p) ? Number(p) : p));
}

function describeError(error: ValueError, path: (string | number)[]): ConfigIssue[] {
  const schema = error.schema as AnySchema;
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const known = Object.keys((parentSchemaOf(error) ?? {}) as object);
      const name = String(path[path.length - 1]);
      const hint = didYouMean(name, known);
      const allowed = known.length === 0 ? 'no keys are allowed here' : `expected one of: ${known.join(', ')}`;
      return [{ path, atKey: true, message: `unknown key ${JSON.stringify(name)}; ${hint}${allowed}` }];
    }
    case ValueErrorType.ObjectRequiredProperty:
      return [{ path, message: `is required (${expectation(schema)})` }];
    case ValueErrorType.Union:
      return unionIssues(schema, error.value, path);
    default:
      return [{ path, message: `expected ${expectation(schema)}, got ${describeValue(error.value)}` }];
  }
}

/** TypeBox reports an unknown key against the object's schema; its properties are the known keys. */
function parentSchemaOf(error: ValueError): Record<string, unknown> | undefined {
  return (error.schema as { properties?: Record<string, unknown> }).properties;
}

/**
 * A union fails as a whole; when the value clearly meant one branch (an object
 * for the object form, a string for the string form) that branch's own errors
 * say more than "expected a or b".
 */
function unionIssues(schema: AnySchema, value: unknown, path: (string | number)[]): ConfigIssue[] {
  const branches = ((schema as { anyOf?: TSchema[] }).anyOf ?? []) as AnySchema[];
  const shape = shapeOf(value);
  const same = branches.filter((b) => shapeOf(undefined, b) === shape);
  if (same.length === 1) {
    const inner = explain(same[0] as TSchema, value, path);
    if (inner.length > 0) return inner;
  }
  return [{ path, message: `expected ${expectation(schema)}, got ${describeValue(value)}${choiceHint(branches, value)}` }];
}

/** `; did you mean "TLSv1.3"?` when a string is one typo away from exactly one of the union's string choices. */
function choiceHint(branches: readonly AnySchema[], value: unknown): string {
  if (typeof value !== 'string') return '';
  const words = branches.map((b) => (b as { const?: unknown }).const).filter((c): c is string => typeof c === 'string');
  const guess = closest(value, words);
  // Two choices equally close (TLSv1.1 against TLSv1.2 and TLSv1.3) make a guess a coin toss.
  if (guess !== undefined) {
    const d = editDistance(value.toLowerCase(), guess.toLowerCase());
    if (words.some((w) => w !== guess && editDistance(value.toLowerCase(), w.toLowerCase()) === d)) return '';
  }
  return guess === undefined ? '' : `; did you mean ${JSON.stringify(guess)}?`;
}

/** The values a union of literals allows (`minVersion`, `logging.level`), or undefined for any other schema. */
export function choicesOf(schema: TSchema): unknown[] | undefined {
  const branches = (schema as { anyOf?: TSchema[] }).anyOf;
  if (schema[Kind] !== 'Union' || branches === undefined || branches.length === 0) return undefined;
  const values = branches.map((b) => (b as { const?: unknown }).const);
  return values.every((v) => v !== undefined) ? values : undefined;
}

function shapeOf(value: unknown, schema?: AnySchema): string {
  if (schema !== undefined) {
    const s = schema as { type?: string; const?: unknown };
    if (s.const !== undefined) return `const:${typeof s.const}`;
    return s.type === 'integer' ? 'number' : (s.type ?? 'unknown');
  }
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value;
}

/** What a schema node accepts, in words. */
export function expectation(schema: AnySchema): string {
  if (schema.expected !== undefined) return schema.expected;
  const s = schema as unknown as Record<string | symbol, unknown>;
  if (s.const !== undefined) return JSON.stringify(s.const);
  // The allowed values, not the key's description ("Default TLSv1.2."), which only says which one is used when none is given.
  const choices = choicesOf(schema);
  if (choices !== undefined) return `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`;
  switch (s[Kind]) {
    case 'Integer':
    case 'Number': {
      const what = s[Kind] === 'Integer' ? 'a whole number' : 'a number';
      const min = s.minimum as number | undefined;
      const max = s.maximum as number | undefined;
      if (min !== undefined && max !== undefined) return `${what} from ${min} to ${max}`;
      if (min !== undefined) return `${what} of at least ${min}`;
      return what;
    }
    case 'String': {
      const min = s.minLength as number | undefined;
      if (min !== undefined && min > 1) return `a string of at least ${min} characters`;
      return min === 1 ? 'a non-empty string' : 'a string';
    }
    case 'Boolean':
      return 'true or false';
    case 'Array':
      return s.minItems !== undefined ? `a list of at least ${String(s.minItems)} item(s)` : 'a list';
    case 'Object':
    case 'Record':
      return 'a mapping of keys to values';
    default:
      return s.description !== undefined ? String(s.description) : 'a valid value';
  }
}

/** A value as a message shows it: strings quoted, structures named. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
