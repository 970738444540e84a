import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REQUIRED_NODE_MAJOR, unsupportedNode } from './node-version.js';

describe('unsupportedNode', () => {
  it('accepts the pinned major version only, and says what to do otherwise', () => {
    assert.equal(unsupportedNode(`${REQUIRED_NODE_MAJOR}.3.1`), null);
    assert.equal(unsupportedNode(process.versions.node), null, 'the tests run on it');
    assert.match(unsupportedNode('20.20.2') ?? '', /runs on Node\.js 24, not 20\.20\.2: start it with npm/);
    assert.notEqual(unsupportedNode('26.0.0'), null);
  });
});
