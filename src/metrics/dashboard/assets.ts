/**
 * The dashboard's files, all shipped in the package: the page, and the
 * compiled browser modules that sit next to this file. No CDN, so the
 * dashboard works on a machine without internet.
 */
import { readFileSync } from 'node:fs';
import { DASHBOARD_HTML, FAVICON_SVG } from './page.js';

export interface Asset {
  type: string;
  body: string;
}

/** The browser modules (compiled from client.ts and what it imports). */
const MODULES = new Set(['client', 'chart', 'series', 'format']);

const cache = new Map<string, Asset>();

/** The asset at a URL path, or undefined when there is none. */
export function dashboardAsset(path: string): Asset | undefined {
  if (path === '/' || path === '/index.html') return { type: 'text/html; charset=utf-8', body: DASHBOARD_HTML };
  if (path === '/favicon.ico') return { type: 'image/svg+xml', body: FAVICON_SVG };
  const m = /^\/assets\/([a-z-]+)\.js$/.exec(path);
  if (m === null || !MODULES.has(m[1] as string)) return undefined;
  const name = m[1] as string;
  let asset = cache.get(name);
  if (asset === undefined) {
    // Source-map comments would send the browser after .map files this server does not serve.
    const body = readFileSync(new URL(`./${name}.js`, import.meta.url), 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, '\n');
    asset = { type: 'text/javascript; charset=utf-8', body };
    cache.set(name, asset);
  }
  return asset;
}
