/**
 * Tests in Debian's chromium (driven by playwright-core): where it is, how it
 * is launched, and the rule for when it is missing — skipped with a message
 * locally, a failure under CI=true (CI installs it).
 */
import { existsSync } from 'node:fs';
import { describeNeeding } from './needs.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `describe(title, body)` when chromium is there; otherwise skipped, or one failing test under CI=true. */
export function describeInChromium(title: string, body: () => void): void {
  describeNeeding(title, existsSync(CHROMIUM) ? null : `chromium not found at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`, body);
}
