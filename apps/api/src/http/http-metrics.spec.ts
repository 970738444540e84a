import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { templateOf } from './http-metrics.js';

describe('templateOf (requests refused before routing)', () => {
  const sha = 'a'.repeat(64);
  it('finds the template of a route by method and path, HEAD falling back to GET', () => {
    assert.equal(templateOf('POST', '/v1/tokens'), '/v1/tokens');
    assert.equal(templateOf('GET', `/v1/samples/${sha}`), '/v1/samples/:sha256');
    assert.equal(templateOf('HEAD', `/v1/samples/${sha}/download`), '/v1/samples/:sha256/download');
    assert.equal(templateOf('HEAD', `/v1/samples/${sha}`), '/v1/samples/:sha256');
  });

  it('finds none for an unknown URL or method', () => {
    assert.equal(templateOf('GET', '/v1/no/such/route'), undefined);
    assert.equal(templateOf('DELETE', '/v1/tokens'), undefined);
    assert.equal(templateOf('GET', `/v1/samples/${sha}/extra/part`), undefined);
  });
});
