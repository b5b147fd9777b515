/**
 * Finding and loading plugin modules: built-in ones by name (`echo`), the
 * rest by path relative to the config file (a file, or a package directory:
 * its `main`, else `index.js`). A TypeScript plugin loads directly where Node
 * can strip types (22.6+ with `--experimental-strip-types`, 23.6+ by
 * default); elsewhere the error gives the one-line build.
 *
 * The plugin is the module's default export. CommonJS works too: `import()`
 * hands over `module.exports` as the default, which is the plugin after
 * `module.exports = definePlugin(...)`, and `{ default: plugin }` after tsc's
 * `exports.default = definePlugin(...)` (so that wrapper is looked inside).
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kind } from '@sinclair/typebox';
import { capstanError } from '../errors.js';
import type { Plugin } from './plugin.js';

/** Built-in plugins, loaded on demand. */
const BUILTIN: Record<string, () => Promise<{ default: unknown }>> = {
  echo: () => import('./plugins/echo.js'),
};

export const BUILTIN_PLUGINS: readonly string[] = Object.keys(BUILTIN);

/** Where a plugin reference points: `builtin:echo`, or a `file:` URL. */
export function pluginSpecifier(ref: string, configDir: string): string {
  if (Object.hasOwn(BUILTIN, ref)) return `builtin:${ref}`;
  const looksLikePath = ref.startsWith('.') || isAbsolute(ref) || ref.includes('/') || extname(ref) !== '';
  if (!looksLikePath) {
    throw capstanError(
      'ERR_PLUGIN',
      `unknown built-in plugin ${JSON.stringify(ref)}; built-in plugins are ${BUILTIN_PLUGINS.join(', ')}. For your own plugin give a module path such as ./${ref}.js`,
      { actual: ref },
    );
  }
  const file = resolve(configDir, ref);
  if (!existsSync(file)) throw capstanError('ERR_PLUGIN', `plugin module not found: ${file}`, { actual: ref });
  return pathToFileURL(statSync(file).isDirectory() ? packageEntry(file, ref) : file).href;
}

/** The file a plugin package directory loads: what `require` would (its `main`, else `index.js`). */
function packageEntry(dir: string, ref: string): string {
  try {
    return createRequire(join(dir, 'package.json')).resolve(dir);
  } catch {
    throw capstanError('ERR_PLUGIN', `plugin directory ${dir} has no module to load: give its package.json a "main", add an index.js, or name the file`, { actual: ref });
  }
}

/** True when this Node can import `.ts` files (type stripping available and on). */
export function canImportTypeScript(): boolean {
  const features = process.features as { typescript?: unknown };
  if (features.typescript === 'strip' || features.typescript === 'transform') return true;
  // Node 22.6–22.9 strip types behind a flag but do not report it in process.features.
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((f) => f === '--experimental-strip-types' || f === '--experimental-transform-types');
}

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/** Imports a plugin module and checks that its default export is a plugin. */
export async function importPlugin(specifier: string): Promise<Plugin> {
  let mod: { default?: unknown };
  if (specifier.startsWith('builtin:')) {
    const load = BUILTIN[specifier.slice('builtin:'.length)];
    if (load === undefined) throw capstanError('ERR_PLUGIN', `unknown built-in plugin ${specifier}`);
    mod = await load();
  } else {
    const file = new URL(specifier);
    if (TS_EXTENSIONS.has(extname(file.pathname)) && !canImportTypeScript()) {
      const path = decodeURIComponent(file.pathname);
      throw capstanError(
        'ERR_PLUGIN',
        `cannot load the TypeScript plugin ${path}: Node ${process.versions.node} cannot run TypeScript directly ` +
          '(Node 22.6+ can with --experimental-strip-types, 23.6+ by default). Build it once with\n' +
          `  npx tsc ${path} --module nodenext --target es2022 --skipLibCheck\n` +
          'and point the config at the .js file next to it.',
        { actual: path },
      );
    }
    try {
      mod = (await import(specifier)) as { default?: unknown };
    } catch (err) {
      const hint =
        (err as NodeJS.ErrnoException).code === 'ERR_REQUIRE_ESM'
          ? ` (this Node ${process.versions.node} cannot require() an ES module such as capstan: use Node 20.19 or later, or load it with await import('capstan'), or write the plugin as an ES module)`
          : '';
      throw capstanError('ERR_PLUGIN', `cannot load plugin module ${decodeURIComponent(file.pathname)}: ${(err as Error).message}${hint}`, { cause: err });
    }
  }
  return checkPlugin(pluginExport(mod), specifier, mod);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The default export, or what CommonJS compiled by tsc or Babel (`exports.default = …`) holds under `default`. */
function pluginExport(mod: { default?: unknown }): unknown {
  const value = mod.default;
  if (isObject(value) && value.name === undefined && value.handler === undefined && isObject(value.default)) return value.default;
  return value;
}

/** What a module exported instead of a plugin, in words. */
function describeExport(value: unknown, mod: object): string {
  if (value === undefined) {
    const named = Object.keys(mod).filter((k) => k !== 'default');
    return named.length === 0 ? 'the module exports nothing' : `the module has no default export, only ${named.join(', ')}`;
  }
  if (value === null) return 'the default export is null';
  if (typeof value === 'function') return `the default export is a function${value.name === '' ? '' : ` (${value.name})`}, not the object definePlugin returns`;
  if (Array.isArray(value)) return 'the default export is a list';
  if (!isObject(value)) return `the default export is a ${typeof value}`;
  const keys = Object.keys(value);
  // An empty module.exports: the file assigned nothing to it (or only to a name such as exports.plugin).
  if (keys.length === 0) return 'the default export (module.exports in CommonJS) is an empty object';
  return `the default export is an object with ${keys.join(', ')} but no name`;
}

function checkPlugin(value: unknown, specifier: string, mod: object): Plugin {
  const where = specifier.startsWith('file:') ? decodeURIComponent(new URL(specifier).pathname) : specifier;
  const bad = (what: string) =>
    capstanError(
      'ERR_PLUGIN',
      `${where}: ${what}; a plugin module exports definePlugin({ name, handler, ... }): export default definePlugin(...) in an ES module, module.exports = definePlugin(...) in CommonJS`,
      { actual: specifier },
    );
  if (!isObject(value) || value.name === undefined) throw bad(describeExport(value, mod));
  const p = value;
  if (typeof p.name !== 'string' || p.name === '') throw bad(`the plugin's name is ${p.name === '' ? 'empty' : `a ${typeof p.name}`}, not a non-empty string`);
  if (p.handler === undefined && p.websocket === undefined && p.datagramHandler === undefined) {
    throw bad(`plugin ${p.name} has no handler(ctx) function, nor a websocket(ctx) or datagramHandler(ctx) one`);
  }
  for (const hook of ['handler', 'websocket', 'datagramHandler', 'codec', 'setup', 'teardown']) {
    if (p[hook] !== undefined && typeof p[hook] !== 'function') throw bad(`plugin ${p.name}: ${hook} must be a function`);
  }
  for (const hook of ['upgrade', 'request']) {
    // The library's names, misplaced: an endpoint's hooks come from what websocket(ctx) returns.
    if (p[hook] !== undefined) throw bad(`plugin ${p.name}: ${hook} at the top level of a plugin is never called; return ${hook}(req) from websocket(ctx), beside open and message`);
  }
  if (p.options !== undefined && (typeof p.options !== 'object' || p.options === null || !(Kind in p.options))) {
    throw bad(`plugin ${p.name}: options must be a TypeBox schema (Type.Object({ ... }))`);
  }
  return value as unknown as Plugin;
}
