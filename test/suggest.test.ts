import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closest, didYouMean, editDistance } from '../src/suggest.js';

describe('did you mean', () => {
  it('counts a swap of two neighbouring letters as one edit', () => {
    assert.equal(editDistance('prot', 'port'), 1);
    assert.equal(editDistance('wrokers', 'workers'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });

  it('suggests the closest known name, ignoring case', () => {
    assert.equal(closest('prot', ['host', 'port', 'path']), 'port');
    assert.equal(closest('MaxConections', ['maxConnections', 'maxConnectionsPerAddress']), 'maxConnections');
  });

  it('allows one edit in a short name and two in a longer one, and otherwise suggests nothing', () => {
    assert.equal(closest('pr', ['port']), undefined);
    assert.equal(closest('potr', ['port']), 'port');
    assert.equal(closest('pxyt', ['port']), undefined);
    assert.equal(closest('confgi', ['config']), 'config');
    assert.equal(closest('colour', ['config', 'workers']), undefined);
  });

  it('completes a name cut short when only one known name begins so', () => {
    assert.equal(closest('port', ['port-offset', 'config']), 'port-offset');
    assert.equal(closest('conn', ['connections', 'connect-rate']), undefined);
    assert.equal(closest('po', ['port-offset']), undefined);
  });

  it('phrases the hint as the start of a message, or says nothing', () => {
    assert.equal(didYouMean('prot', ['port'], (g) => `--${g}`), 'did you mean --port? ');
    assert.equal(didYouMean('colour', ['port']), '');
  });
});
