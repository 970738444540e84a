import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Principal } from '#contracts';
import { PrincipalCache } from './principal-cache.js';

const person = (tokenId: string): Principal => ({
  tokenId,
  role: 'analyst',
  name: tokenId,
  pseudonym: `p-${tokenId}`,
});
const agent = (tokenId: string, agentId: string): Principal => ({
  tokenId,
  role: 'agent',
  name: tokenId,
  agentId,
  participating: true,
  pseudonym: `p-${agentId}`,
});

/** A cache on a clock the test moves, subscribed (resumed) unless told otherwise. */
function cache(ttlMs = 1_000, max = 10, live = true) {
  const clock = { now: 0 };
  const c = new PrincipalCache(ttlMs, max, () => clock.now);
  if (live) c.resume();
  return { c, clock };
}

describe('PrincipalCache', () => {
  it('serves an entry until its TTL, then forgets it', () => {
    const { c, clock } = cache(1_000);
    c.set('h1', person('t1'), c.ticket());
    clock.now = 999;
    assert.equal(c.get('h1')?.tokenId, 't1');
    clock.now = 1_000;
    assert.equal(c.get('h1'), undefined);
    assert.equal(c.size, 0);
  });

  it('keeps at most maxEntries, dropping the least recently used', () => {
    const { c } = cache(1_000, 3);
    for (const n of [1, 2, 3]) c.set(`h${n}`, person(`t${n}`), c.ticket());
    assert.ok(c.get('h1')); // h1 used: h2 is now the oldest
    c.set('h4', person('t4'), c.ticket());
    assert.equal(c.size, 3);
    assert.equal(c.get('h2'), undefined);
    assert.ok(c.get('h1'));
    assert.ok(c.get('h3'));
    assert.ok(c.get('h4'));
  });

  it('drops one token, or every token of an agent', () => {
    const { c } = cache();
    c.set('a1', agent('t1', 'agent-a'), c.ticket());
    c.set('a2', agent('t2', 'agent-a'), c.ticket());
    c.set('b1', agent('t3', 'agent-b'), c.ticket());
    c.set('p1', person('t4'), c.ticket());
    c.invalidate({ agentId: 'agent-a' });
    assert.equal(c.get('a1'), undefined);
    assert.equal(c.get('a2'), undefined);
    assert.ok(c.get('b1'));
    c.invalidate({ tokenId: 't4' });
    assert.equal(c.get('p1'), undefined);
    assert.ok(c.get('b1'));
  });

  it('clear() drops everything', () => {
    const { c } = cache();
    c.set('h1', person('t1'), c.ticket());
    c.set('h2', agent('t2', 'a'), c.ticket());
    c.clear();
    assert.equal(c.size, 0);
    assert.equal(c.get('h1'), undefined);
  });

  it('does not store what was read before an invalidation', () => {
    const { c } = cache();
    const ticket = c.ticket(); // the lookup starts...
    c.invalidate({ agentId: 'unrelated' }); // ...a change arrives while it reads...
    c.set('h1', agent('t1', 'a'), ticket); // ...so what it read may be old
    assert.equal(c.get('h1'), undefined);
    c.set('h1', agent('t1', 'a'), c.ticket());
    assert.ok(c.get('h1'));
  });

  it('keeps and serves nothing while suspended, and starts empty on resume', () => {
    const { c } = cache(1_000, 10, false);
    c.set('h1', person('t1'), c.ticket());
    assert.equal(c.size, 0, 'never subscribed yet');
    c.resume();
    c.set('h1', person('t1'), c.ticket());
    assert.ok(c.get('h1'));
    c.suspend();
    assert.equal(c.get('h1'), undefined);
    assert.equal(c.size, 0);
    const ticket = c.ticket();
    c.resume();
    c.set('h1', person('t1'), ticket); // read while deaf: may have missed a change
    assert.equal(c.get('h1'), undefined);
  });

  it('a TTL of 0 disables it', () => {
    const { c } = cache(0);
    assert.equal(c.enabled, false);
    c.set('h1', person('t1'), c.ticket());
    assert.equal(c.get('h1'), undefined);
  });
});
