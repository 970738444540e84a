import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { EICAR, TestService, fileMetadata, freePort, pollUntil } from '#test-support';

const METRICS_TOKEN = 'metrics-token-for-the-e2e-test';

interface Readiness {
  status: string;
  checks: Record<string, string>;
}

/** A private Redis (never the machine's shared one), so the test may kill it. */
function startRedis(port: number): ChildProcess {
  return spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
}

async function stopRedis(redis: ChildProcess | null): Promise<void> {
  if (redis === null || redis.exitCode !== null || redis.signalCode !== null) return;
  const exited = new Promise((resolve) => redis.once('exit', resolve));
  redis.kill('SIGKILL');
  await exited;
}

async function readiness(url: string): Promise<{ status: number; body: Readiness }> {
  const res = await fetch(`${url}/health/ready`);
  return { status: res.status, body: (await res.json()) as Readiness };
}

/** The value of one series (exact label set in Prometheus' order is not relied on: labels are matched). */
function seriesValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^[^{\s]+(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (match === null) continue;
    const found = new Map(
      [...(match[1] ?? '').matchAll(/([A-Za-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) return Number(match[2]);
  }
  return undefined;
}

describe('readiness follows Redis', () => {
  let redisPort = 0;
  let redis: ChildProcess | null = null;
  let service: TestService;

  before(async () => {
    redisPort = await freePort();
    redis = startRedis(redisPort);
    service = new TestService({
      env: { REDIS_URL: `redis://127.0.0.1:${redisPort}`, HEALTH_CHECK_TIMEOUT_MS: '1000' },
    });
    await service.start();
  });

  after(async () => {
    await service.stop();
    await stopRedis(redis);
  });

  it('turns 503 naming redis when Redis goes away, and 200 when it is back', async () => {
    assert.deepEqual(await readiness(service.baseUrl), {
      status: 200,
      body: { status: 'ok', checks: { database: 'ok', redis: 'ok', storage: 'ok' } },
    });
    await pollUntil(async () => ((await readiness(service.scannerUrl)).status === 200 ? true : undefined), {
      what: 'the scanner to be ready',
    });
    await stopRedis(redis);
    const started = Date.now();
    const down = await readiness(service.baseUrl);
    assert.ok(Date.now() - started < 5_000, 'each check is bounded in time');
    assert.equal(down.status, 503);
    assert.deepEqual(down.body, {
      status: 'failed',
      checks: { database: 'ok', redis: 'failed', storage: 'ok' },
    });
    const scannerDown = await readiness(service.scannerUrl);
    assert.equal(scannerDown.status, 503);
    assert.equal(scannerDown.body.checks.redis, 'failed');

    redis = startRedis(redisPort);
    await pollUntil(async () => ((await readiness(service.baseUrl)).status === 200 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the API to be ready again',
    });
    await pollUntil(async () => ((await readiness(service.scannerUrl)).status === 200 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'the scanner to be ready again',
    });
  });
});

describe('metrics', () => {
  const service = new TestService({ env: { METRICS_TOKEN } });
  before(() => service.start());
  after(() => service.stop());

  const metrics = async (base: string): Promise<string> => {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return res.text();
  };

  it('needs METRICS_TOKEN when it is set, on the API and on the scanner', async () => {
    for (const base of [service.baseUrl, service.scannerUrl]) {
      assert.equal((await fetch(`${base}/metrics`)).status, 401);
      const wrong = await fetch(`${base}/metrics`, {
        headers: { authorization: `Bearer ${service.adminToken}` },
      });
      assert.equal(wrong.status, 401);
      const body = (await wrong.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'UNAUTHENTICATED');
    }
  });

  it('the scanner answers health on its own port', async () => {
    const live = await fetch(`${service.scannerUrl}/health/live`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: 'ok' });
    const ready = await readiness(service.scannerUrl);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.checks, { database: 'ok', redis: 'ok', storage: 'ok' });
    assert.equal((await fetch(`${service.scannerUrl}/nothing`)).status, 404);
  });

  it('has request durations by route template, bytes, queues, scans, verdicts and compile errors', async () => {
    const res = await service.submit(
      EICAR,
      fileMetadata(EICAR, { filename: 'eicar.com' }),
      service.adminToken,
    );
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId, sha256 } = (await res.json()) as { submissionId: string; sha256: string };
    await pollUntil(
      async () => {
        const view = (await (await service.request(`/v1/submissions/${submissionId}`)).json()) as {
          status: string;
        };
        return view.status === 'scanned' ? true : undefined;
      },
      { what: 'the scan' },
    );
    assert.equal((await service.request(`/v1/samples/${sha256}`)).status, 200);
    assert.equal((await service.request(`/v1/samples/${'0'.repeat(64)}`)).status, 404);
    assert.equal((await service.request('/v1/no/such/route')).status, 404);
    const bad = await service.request('/v1/rulesets', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'half',
        source: 'rule ok { condition: true }\nrule bad { condition: nope }',
      }),
    });
    assert.equal(bad.status, 201, await bad.clone().text());
    // Refused by the JSON parser, before routing: still counted under the route's template.
    const malformed = await service.request('/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{bad json',
    });
    assert.equal(malformed.status, 400);

    const api = await metrics(service.baseUrl);
    const count = (labels: Record<string, string>) =>
      seriesValue(api, 'specimen_http_request_duration_seconds_count', labels);
    assert.equal(count({ method: 'POST', route: '/v1/submissions', status: '201', app: 'api' }), 1);
    assert.equal(count({ method: 'GET', route: '/v1/samples/:sha256', status: '200' }), 1);
    assert.equal(count({ method: 'GET', route: '/v1/samples/:sha256', status: '404' }), 1);
    assert.equal(count({ method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.equal(count({ method: 'POST', route: '/v1/tokens', status: '400' }), 1);
    assert.equal(count({ method: 'POST', route: 'unmatched', status: '400' }), undefined);
    assert.ok(!api.includes(sha256), 'no raw URL in any label');
    assert.equal(seriesValue(api, 'specimen_ingested_bytes_total', { kind: 'file' }), EICAR.length);
    assert.equal(seriesValue(api, 'specimen_rule_compile_errors_total', { app: 'api' }), 1);
    assert.equal(seriesValue(api, 'specimen_queue_stats_up', {}), 1);
    for (const state of ['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed']) {
      for (const queue of ['scan', 'retrohunt', 'maintenance']) {
        assert.notEqual(
          seriesValue(api, 'specimen_queue_jobs', { queue, state }),
          undefined,
          `${queue} ${state}`,
        );
        assert.notEqual(
          seriesValue(api, 'specimen_queue_oldest_job_age_seconds', { queue, state }),
          undefined,
        );
      }
    }
    assert.ok((seriesValue(api, 'specimen_queue_jobs', { queue: 'scan', state: 'completed' }) ?? 0) >= 1);
    assert.equal(seriesValue(api, 'specimen_queue_jobs', { queue: 'scan', state: 'waiting' }), 0);

    const scanner = await metrics(service.scannerUrl);
    assert.equal(
      seriesValue(scanner, 'specimen_scan_duration_seconds_count', { status: 'scanned', app: 'scanner' }),
      1,
    );
    assert.equal(seriesValue(scanner, 'specimen_scan_verdicts_total', { verdict: 'malicious' }), 1);
    assert.match(scanner, /^specimen_rule_compile_errors_total\{app="scanner"\} 0$/m);
    assert.match(scanner, /^specimen_queue_jobs\{/m);
  });
});

describe('request log', () => {
  const service = new TestService({ scanner: false, env: { LOG_LEVEL: 'info' } });
  before(() => service.start());
  after(() => service.stop());

  /** The JSON log lines the API of `of` printed that carry this request id. */
  const linesOf = (id: string, of = service): Array<Record<string, unknown>> =>
    of
      .output()
      .split('\n')
      .map((line) => line.replace(/^\[api\] /, ''))
      .filter((line) => line.startsWith('{') && line.includes(id))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  /** {@link linesOf}, once there is at least one. */
  const awaitLines = (id: string, of = service): Promise<Array<Record<string, unknown>>> =>
    pollUntil(
      () => {
        const lines = linesOf(id, of);
        return Promise.resolve(lines.length > 0 ? lines : undefined);
      },
      { timeoutMs: 5_000, what: `the log lines of request ${id}` },
    );

  it('answers with the request id and writes one access line with it, no address and no token', async () => {
    const res = await service.request('/v1/me', { headers: { 'x-request-id': 'e2e-request-1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'e2e-request-1');
    await res.arrayBuffer();
    const lines = await awaitLines('e2e-request-1');
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.deepEqual(line?.req, { id: 'e2e-request-1', method: 'GET', url: '/v1/me' });
    assert.equal(line?.statusCode, 200);
    assert.equal(line?.msg, 'request completed');
    assert.equal(typeof line?.responseTime, 'number');
    assert.ok(!service.output().includes(service.adminToken), 'no bearer token in the log');
    assert.ok(!/remoteAddress|127\.0\.0\.1:\d+"/.test(JSON.stringify(line)), 'no client address');
  });

  it('says a 5xx errored', async () => {
    // An API whose Redis does not answer: the queue route answers 503.
    const broken = new TestService({
      scanner: false,
      waitFor: 'live',
      env: { LOG_LEVEL: 'info' },
      apiEnv: { REDIS_URL: `redis://127.0.0.1:${await freePort()}` },
    });
    await broken.start();
    try {
      const res = await broken.request('/v1/queues', { headers: { 'x-request-id': 'e2e-errored-1' } });
      assert.equal(res.status, 503, await res.text());
      // The exception filter's error line comes first: wait for the access line itself.
      const line = await pollUntil(
        () => Promise.resolve(linesOf('e2e-errored-1', broken).find((l) => l.msg === 'request errored')),
        { timeoutMs: 5_000, what: 'the access line of the 503' },
      );
      assert.equal(line.statusCode, 503);
    } finally {
      await broken.stop();
    }
  });

  it('replaces an unusable request id and does not log probes', async () => {
    const bad = await service.request('/v1/me', { headers: { 'x-request-id': 'not a sane id!' } });
    await bad.arrayBuffer();
    assert.match(bad.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const probe = await fetch(`${service.baseUrl}/health/live`, {
      headers: { 'x-request-id': 'e2e-probe-1' },
    });
    assert.equal(probe.headers.get('x-request-id'), 'e2e-probe-1');
    await probe.arrayBuffer();
    // A later request's line shows the probe's would have been written by now.
    const after = await service.request('/v1/me', { headers: { 'x-request-id': 'e2e-request-2' } });
    await after.arrayBuffer();
    await awaitLines('e2e-request-2');
    assert.deepEqual(linesOf('e2e-probe-1'), []);
  });
});
