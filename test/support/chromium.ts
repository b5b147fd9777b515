/**
 * Tests in Debian's chromium (driven by playwright-core): where it is, how it
 * is launched, and the rule for when it is missing — skipped with a message
 * locally, a failure under CI=true (CI installs it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `describe(title, body)` when chromium is there; otherwise skipped, or one failing test under CI=true. */
export function describeInChromium(title: string, body: () => void): void {
  const missing = !existsSync(CHROMIUM);
  if (missing && process.env.CI === 'true') {
    describe(title, () => {
      it('needs chromium, which CI installs', () => {
        assert.fail(`chromium not found at ${CHROMIUM}: .ci/run installs it with apt-get (or set CHROMIUM_PATH)`);
      });
    });
    return;
  }
  describe(title, { skip: missing ? `chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)` : false }, body);
}
