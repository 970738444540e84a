import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RuleDefinitionsCache } from './rulesets.service.js';

describe('RuleDefinitionsCache', () => {
  const version = (id: string, source = `rule r_${id} { condition: true }`) => ({
    id,
    sourceSha256: `sha-of-${source}`,
    source,
  });

  it('splits a version once while it is among the most recently read, and again once dropped', () => {
    const split: string[] = [];
    const cache = new RuleDefinitionsCache(2, (source) => {
      split.push(source);
      return [{ name: source, modifiers: [] }];
    });
    const a = version('a');
    const b = version('b');
    const c = version('c');
    assert.deepEqual(cache.of(a), [{ name: a.source, modifiers: [] }]);
    cache.of(a);
    cache.of(b);
    cache.of(a); // a is now the most recent: c drops b
    cache.of(c);
    assert.deepEqual(split, [a.source, b.source, c.source]);
    cache.of(a);
    cache.of(b);
    assert.deepEqual(split, [a.source, b.source, c.source, b.source]);
  });

  it('keys by the source hash too, and gives the real rule names', () => {
    const cache = new RuleDefinitionsCache();
    assert.deepEqual(
      cache.of(version('x', 'private rule p { condition: true } rule q { condition: p }')).map((d) => d.name),
      ['p', 'q'],
    );
    assert.deepEqual(
      cache.of(version('x', 'rule other { condition: true }')).map((d) => d.name),
      ['other'],
    );
  });
});
