/**
 * A suite that needs a tool from the machine (a browser, a C program): run it
 * when the tool is there, skip it with `missing` as the reason when it is not,
 * and fail instead under CI=true, where the CI script installs every tool.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

/** `describe(name, body)`, skipped with the reason `missing` (or failed under CI=true) when that is not null. */
export function describeNeeding(name: string, missing: string | null, body: () => void): void {
  if (missing !== null && process.env.CI === 'true') {
    describe(name, () => {
      it('has what it needs, which CI installs', () => {
        assert.fail(missing);
      });
    });
    return;
  }
  describe(name, { skip: missing ?? false }, body);
}
