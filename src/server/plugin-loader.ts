/**
 * Finding and loading plugin modules: built-in ones by name (`echo`), the
 * rest by path relative to the config file. A TypeScript plugin loads directly
 * where Node can strip types (22.6+ with `--experimental-strip-types`, 23.6+ by
 * default); elsewhere the error gives the one-line build.
 */
import { existsSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
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
  return pathToFileURL(file).href;
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
      throw capstanError('ERR_PLUGIN', `cannot load plugin module ${decodeURIComponent(file.pathname)}: ${(err as Error).message}`, { cause: err });
    }
  }
  return checkPlugin(mod.default, specifier);
}

function checkPlugin(value: unknown, specifier: string): Plugin {
  const where = specifier.startsWith('file:') ? decodeURIComponent(new URL(specifier).pathname) : specifier;
  const bad = (what: string) =>
    capstanError('ERR_PLUGIN', `${where}: ${what}; a plugin module's default export is definePlugin({ name, handler, ... })`, { actual: specifier });
  if (typeof value !== 'object' || value === null) throw bad('there is no default export object');
  const p = value as Record<string, unknown>;
  if (typeof p.name !== 'string' || p.name === '') throw bad('the plugin has no name');
  if (p.handler === undefined && p.websocket === undefined) throw bad(`plugin ${p.name} has no handler(ctx) function, nor a websocket(ctx) one`);
  for (const hook of ['handler', 'websocket', 'codec', 'setup', 'teardown']) {
    if (p[hook] !== undefined && typeof p[hook] !== 'function') throw bad(`plugin ${p.name}: ${hook} must be a function`);
  }
  if (p.options !== undefined && (typeof p.options !== 'object' || p.options === null || !(Kind in p.options))) {
    throw bad(`plugin ${p.name}: options must be a TypeBox schema (Type.Object({ ... }))`);
  }
  return value as Plugin;
}
