import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkReadiness } from './health.js';
import { metricsAuthorized } from './metrics-auth.js';
import { SpecimenMetrics } from './metrics.js';

describe('checkReadiness', () => {
  it('bounds each check in time and names the ones that failed', async () => {
    const started = Date.now();
    const readiness = await checkReadiness(
      {
        fine: () => Promise.resolve(),
        hangs: () => new Promise(() => undefined),
        throws: () => Promise.reject(new Error('down')),
        throwsAtOnce: () => {
          throw new Error('sync');
        },
      },
      200,
    );
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(readiness, {
      status: 'failed',
      checks: { fine: 'ok', hangs: 'failed', throws: 'failed', throwsAtOnce: 'failed' },
    });
    assert.deepEqual(await checkReadiness({ a: () => Promise.resolve(1) }, 200), {
      status: 'ok',
      checks: { a: 'ok' },
    });
  });
});

describe('metricsAuthorized', () => {
  it('is open without a token and needs the exact bearer token with one', () => {
    assert.equal(metricsAuthorized(undefined, undefined), true);
    const token = 'a-metrics-token-of-length';
    assert.equal(metricsAuthorized(undefined, token), false);
    assert.equal(metricsAuthorized(`Bearer ${token}x`, token), false);
    assert.equal(metricsAuthorized(token, token), false);
    assert.equal(metricsAuthorized(`bearer ${token}`, token), true);
  });
});

describe('SpecimenMetrics', () => {
  it('reads queue stats at most once per cache period and reports a failed read', async () => {
    const metrics = new SpecimenMetrics('api');
    let reads = 0;
    metrics.observeQueues(() => {
      reads += 1;
      return Promise.resolve([{ queue: 'scan', state: 'waiting', depth: 3, oldestAgeSeconds: 12.5 }]);
    }, 60_000);
    const text = await metrics.text();
    assert.match(text, /^specimen_queue_jobs\{queue="scan",state="waiting",app="api"\} 3$/m);
    assert.match(
      text,
      /^specimen_queue_oldest_job_age_seconds\{queue="scan",state="waiting",app="api"\} 12\.5$/m,
    );
    assert.match(text, /^specimen_queue_stats_up\{app="api"\} 1$/m);
    await metrics.text();
    assert.equal(reads, 1);

    const failing = new SpecimenMetrics('scanner');
    failing.observeQueues(() => Promise.reject(new Error('redis down')), 0);
    const down = await failing.text();
    assert.match(down, /^specimen_queue_stats_up\{app="scanner"\} 0$/m);
    assert.doesNotMatch(down, /^specimen_queue_jobs\{/m);
  });
});
