import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { RateLimiter } from './rate-limiter.js';

const connection = { url: 'redis://127.0.0.1:6379', prefix: `t${randomBytes(6).toString('hex')}` };

describe('RateLimiter (real Redis)', () => {
  // Two instances stand for two API replicas sharing one Redis.
  const replicas = [new RateLimiter(connection), new RateLimiter(connection)];
  after(() => Promise.all(replicas.map((r) => r.close())));

  it('counts one subject across replicas and refuses past the limit until the window ends', async () => {
    const subject = `agent:${randomBytes(4).toString('hex')}`;
    const decisions = await Promise.all(
      Array.from({ length: 7 }, (_, i) => replicas[i % 2]!.hit(subject, 5, 60_000)),
    );
    assert.deepEqual(
      decisions.map((d) => d.count).sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.equal(decisions.filter((d) => d.allowed).length, 5);
    for (const d of decisions) assert.ok(d.retryAfterSeconds >= 59 && d.retryAfterSeconds <= 60);
  });

  it('keeps subjects apart and opens a new window once the old one expires', async () => {
    const [a, b] = [`agent:${randomBytes(4).toString('hex')}`, `agent:${randomBytes(4).toString('hex')}`];
    assert.equal((await replicas[0]!.hit(a, 1, 200)).allowed, true);
    assert.equal((await replicas[0]!.hit(a, 1, 200)).allowed, false);
    assert.equal((await replicas[1]!.hit(b, 1, 200)).allowed, true);
    const reopened = await (async () => {
      for (let i = 0; i < 50; i++) {
        const d = await replicas[0]!.hit(a, 1, 200);
        if (d.allowed) return d;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return null;
    })();
    assert.equal(reopened?.count, 1);
  });

  it('fails fast with QUEUE_UNAVAILABLE when Redis does not answer', async () => {
    const dead = new RateLimiter({ url: 'redis://127.0.0.1:1', prefix: 'x' });
    try {
      await assert.rejects(dead.hit('agent:x', 1, 1000), { code: 'QUEUE_UNAVAILABLE' });
    } finally {
      await dead.close();
    }
  });
});
