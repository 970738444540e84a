import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import {
  TestService,
  benign,
  fileMetadata,
  freePort,
  pollUntil,
  query,
  seedScannedSamples,
  sha256,
} from '#test-support';

/**
 * A private Redis without persistence (never the machine's shared one) on a port of its own, so a test may
 * stop it, and start it again empty.
 */
class PrivateRedis {
  private process: ChildProcess | null = null;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  start(): void {
    this.process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
  }

  async stop(): Promise<void> {
    const redis = this.process;
    if (redis === null || redis.exitCode !== null || redis.signalCode !== null) return;
    const exited = new Promise((resolve) => redis.once('exit', resolve));
    redis.kill('SIGKILL');
    await exited;
  }
}

async function statusOf(service: TestService, id: string): Promise<string> {
  const res = await service.request(`/v1/submissions/${id}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { status: string }).status;
}

/** Waits until the submission has `status`. */
async function untilStatus(service: TestService, id: string, status: string, what: string): Promise<void> {
  await pollUntil(async () => ((await statusOf(service, id)) === status ? true : undefined), {
    timeoutMs: 75_000,
    intervalMs: 500,
    what,
  });
}

/** Waits until the scanner answers 200 on its health `path` (`live` or `ready`). */
async function untilScanner(service: TestService, path: 'live' | 'ready', what: string): Promise<void> {
  await pollUntil(
    async () =>
      (await fetch(`${service.scannerUrl}/health/${path}`).catch(() => null))?.ok ? true : undefined,
    { timeoutMs: 30_000, what },
  );
}

/** Stops the service's scanner (SIGTERM: it ends the batches in hand first) and waits for its exit. */
async function stopScanner(service: TestService): Promise<void> {
  const scanner = service.scanner;
  assert.ok(scanner !== null);
  const stopped = new Promise((resolve) => scanner.once('exit', resolve));
  scanner.kill('SIGTERM');
  await stopped;
}

/**
 * `count` random samples of `size` bytes stored and recorded as older samples already scanned clean (as
 * the retrohunt e2e seeds them); those whose index `marked` accepts carry `marker`. Their sha256s, marked first.
 */
async function seedSamples(
  service: TestService,
  count: number,
  size: number,
  marker: string,
  marked: (i: number) => boolean,
): Promise<{ marked: Set<string>; all: string[] }> {
  const samples = Array.from({ length: count }, (_, i) => {
    const bytes = benign(size);
    if (marked(i)) bytes.write(marker, 100 + i, 'ascii');
    return bytes;
  });
  const all = await seedScannedSamples(service, samples);
  return { marked: new Set(all.filter((_, i) => marked(i))), all };
}

/** SIGTERM, then how it ended (exit code or signal), or 'still running' after `ms`. */
async function terminate(child: ChildProcess, ms: number): Promise<string> {
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(`${code ?? signal}`)),
  );
  child.kill('SIGTERM');
  return Promise.race([
    exited,
    new Promise<string>((resolve) => setTimeout(() => resolve('still running'), ms)),
  ]);
}

const json = (body: unknown): RequestInit => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** An enrolled, consenting agent's API key: its requests are rate-limited in Redis (a plain agent token's are not). */
async function enrolledAgent(service: TestService): Promise<string> {
  const created = await service.request('/v1/enrollment-tokens', {
    method: 'POST',
    ...json({ ttlSeconds: 600, maxUses: 1 }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { token: enrollmentToken } = (await created.json()) as { token: string };
  const enrolled = await service.request('/v1/agents/enroll', {
    method: 'POST',
    token: null,
    ...json({
      enrollmentToken,
      product: { name: 'Specimen Agent', version: '1.2.3' },
      os: { family: 'linux', version: '6.1' },
      country: 'de',
    }),
  });
  assert.equal(enrolled.status, 201, await enrolled.clone().text());
  const { apiKey } = (await enrolled.json()) as { apiKey: string };
  const consent = await service.request('/v1/agents/me/consent', {
    method: 'PUT',
    token: apiKey,
    ...json({ participating: true, statementVersion: '2026-01' }),
  });
  assert.equal(consent.status, 200, await consent.clone().text());
  return apiKey;
}

/** `request()` and how long it took to answer, in ms. */
async function timed(request: () => Promise<Response>): Promise<{ res: Response; ms: number }> {
  const started = performance.now();
  const res = await request();
  await res.clone().arrayBuffer();
  return { res, ms: performance.now() - started };
}

/** What the API must answer within while it knows Redis is down (it took 3-6 s per request). */
const FAST_MS = 500;

describe('Redis outages', () => {
  const services: TestService[] = [];
  const redises: PrivateRedis[] = [];

  /** A private Redis (not started unless `running`) and a service on it (started: `options` as TestService's). */
  async function onPrivateRedis(
    options: { env?: Record<string, string>; waitFor?: 'live'; running?: false } = {},
  ): Promise<{ redis: PrivateRedis; service: TestService }> {
    const redis = new PrivateRedis(await freePort());
    redises.push(redis);
    if (options.running !== false) redis.start();
    const service = new TestService({
      env: { REDIS_URL: redis.url, ...options.env },
      ...(options.waitFor === undefined ? {} : { waitFor: options.waitFor }),
    });
    services.push(service);
    await service.start();
    return { redis, service };
  }
  after(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all(redises.map((r) => r.stop()));
  });

  it('re-drives the outbox after Redis comes back without its data (the job schedulers are made again)', async () => {
    const { redis, service } = await onPrivateRedis();
    const agent = await service.token('agent');

    // Redis goes away: an upload is accepted into the outbox. It comes back empty, schedulers and all.
    await redis.stop();
    const bytes = benign(1536);
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    assert.equal(await statusOf(service, submissionId), 'received');
    redis.start();

    await untilStatus(
      service,
      submissionId,
      'scanned',
      'the outbox re-drive and the scan after Redis came back',
    );
  });

  it('queues again the scan of a sample whose job Redis lost with its data (it stayed unscanned for good)', async () => {
    const { redis, service } = await onPrivateRedis({ env: { SCAN_STRANDED_AFTER_MS: '2000' } });
    const agent = await service.token('agent');
    // No scanner: the upload's scan job waits in Redis (its outbox row is gone once it is there)...
    const scanner = service.scanner;
    assert.ok(scanner !== null);
    const stopped = new Promise((resolve) => scanner.once('exit', resolve));
    scanner.kill('SIGTERM');
    await stopped;
    const bytes = benign(1408);
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    await pollUntil(async () => ((await statusOf(service, submissionId)) === 'queued' ? true : undefined), {
      timeoutMs: 20_000,
      what: 'the scan job in Redis',
    });
    // ...and Redis comes back without its data, that job with it.
    await redis.stop();
    redis.start();
    service.startScanner();
    await untilStatus(service, submissionId, 'scanned', 'the lost scan queued again and run');
  });

  it('goes on with a retrohunt and a retro-scan whose next batch job Redis lost with its data', async () => {
    const { redis, service } = await onPrivateRedis({
      env: {
        RETROHUNT_BATCH_SIZE: '20',
        RETROHUNT_CONCURRENCY: '1',
        RETROHUNT_STALLED_AFTER_MS: '2000',
        RETROSCAN_CHECK_EVERY_MS: '1000',
      },
    });
    const SAMPLES = 400;
    const SIZE = 4096;
    const marker = 'RH-OUTAGE-5c1e02';
    const seeded = await seedSamples(service, SAMPLES, SIZE, marker, (i) => i % 25 === 0);
    // The marker rule finds the marked samples; the other matches nothing but takes ~15 ms a sample (as in the
    // retrohunt e2e), so that the hunt lasts its 20 batches long enough to stop it midway.
    const source = [
      `rule hunt_marker { strings: $m = "${marker}" condition: $m }`,
      'rule hunt_slow { condition: for any i in (0..filesize - 1) : ( for any j in (0..31) : ( uint8(i) + j == 1000 ) ) }',
      '',
    ].join('\n');
    const created = await service.request('/v1/retrohunts', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { id } = (await created.json()) as { id: string };
    interface Hunt {
      status: string;
      progress: { scanned: number; total: number; bytes: number };
      matchCount: number;
      matches: Array<{ sha256: string; rule: string }>;
    }
    const hunt = async (): Promise<Hunt> => {
      const res = await service.request(`/v1/retrohunts/${id}?limit=500&source=false`);
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()) as Hunt;
    };
    await pollUntil(async () => ((await hunt()).progress.scanned > 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: 'the first batch of the retrohunt',
    });
    // The scanner ends the batch in hand and queues the next one, which waits in Redis...
    await stopScanner(service);
    const midway = await hunt();
    assert.equal(midway.status, 'running');
    assert.ok(midway.progress.scanned < SAMPLES, `stopped midway: ${midway.progress.scanned} scanned`);
    // ...as does the first batch of a retro-scan asked for meanwhile...
    const ruleset = await service.request('/v1/rulesets', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'outage', source: 'rule outage_never { condition: false }\n' }),
    });
    assert.equal(ruleset.status, 201, await ruleset.clone().text());
    const { id: rulesetId } = (await ruleset.json()) as { id: string };
    const activated = await service.request(`/v1/rulesets/${rulesetId}/activate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ retroscan: true }),
    });
    assert.equal(activated.status, 200, await activated.clone().text());
    // ...and Redis comes back without its data, both jobs with it.
    await redis.stop();
    redis.start();
    service.startScanner();

    const done = await pollUntil(
      async () => {
        const now = await hunt();
        return now.status === 'running' ? undefined : now;
      },
      { timeoutMs: 45_000, intervalMs: 250, what: 'the retrohunt to go on from its cursor and finish' },
    );
    assert.equal(done.status, 'done');
    // Every sample once: no batch counted twice, none skipped.
    assert.deepEqual(done.progress, { scanned: SAMPLES, total: SAMPLES, bytes: SAMPLES * SIZE, timedOut: 0 });
    assert.equal(done.matchCount, seeded.marked.size);
    const matched = done.matches.map((m) => m.sha256);
    assert.equal(matched.length, seeded.marked.size, 'no match twice');
    assert.deepEqual(new Set(matched), seeded.marked);
    // The retro-scan went through every sample too: queued each one's scan and ended.
    const retroscan = await pollUntil(
      async () => {
        const [row] = await query<{ status: string; cursor: string | null }>(
          service.databaseUrl,
          'select status, cursor from retroscans where ruleset_id = $1',
          [rulesetId],
        );
        return row?.status === 'done' ? row : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the retro-scan to go on and finish' },
    );
    assert.equal(retroscan.cursor, [...seeded.all].sort().at(-1));
  });

  it("queues again a retro-scan's scan jobs Redis lost with its data: it ends done with every sample rescanned", async () => {
    const { redis, service } = await onPrivateRedis({
      env: {
        RETROHUNT_BATCH_SIZE: '50',
        RETROHUNT_STALLED_AFTER_MS: '2000',
        RETROSCAN_CHECK_EVERY_MS: '1000',
        // One scan at a time, each ~30 ms (the rule below): the retro-scan's batches queue every scan in a
        // second or so, and most of them are still waiting in Redis when it restarts.
        SCAN_CONCURRENCY: '1',
        SCAN_JOBS_IN_FLIGHT: '2',
      },
    });
    const SAMPLES = 300;
    const seeded = await seedScannedSamples(
      service,
      Array.from({ length: SAMPLES }, () => benign(8192)),
    );
    const ruleset = await service.request('/v1/rulesets', {
      method: 'POST',
      ...json({
        name: 'retroscan-lost',
        source:
          'rule retroscan_slow { condition: for any i in (0..filesize - 1) : ( for any j in (0..31) : ( uint8(i) + j == 1000 ) ) }\n',
      }),
    });
    assert.equal(ruleset.status, 201, await ruleset.clone().text());
    const { id: rulesetId } = (await ruleset.json()) as { id: string };
    const activated = await service.request(`/v1/rulesets/${rulesetId}/activate`, {
      method: 'POST',
      ...json({ retroscan: true }),
    });
    assert.equal(activated.status, 200, await activated.clone().text());
    interface Row {
      status: string;
      cursor: string | null;
      rescanned: number;
    }
    // Samples with a scan under the new ruleset since the retro-scan's rules instant (a failed one counts).
    const retroscan = async (): Promise<Row | undefined> =>
      (
        await query<Row>(
          service.databaseUrl,
          `select r.status, r.cursor,
                  (select count(distinct s.sample_sha256)::int from scans s
                    where s.ruleset_id = r.ruleset_id and s.started_at >= r.rules_as_of) as rescanned
             from retroscans r where r.ruleset_id = $1`,
          [rulesetId],
        )
      )[0];
    // Every scan queued (the last batch ran)...
    const queued = await pollUntil(
      async () => {
        const row = await retroscan();
        return row !== undefined && row.status !== 'running' ? row : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: "the retro-scan's last batch" },
    );
    // ...and Redis comes back without its data, with most of them.
    await redis.stop();
    redis.start();
    assert.ok(queued.rescanned < SAMPLES / 2, `most scans still queued: ${queued.rescanned} ran`);
    const lost = await retroscan();
    assert.ok(lost !== undefined && lost.rescanned < SAMPLES, `scans lost: ${lost?.rescanned} ran`);

    // The check finds the samples without their scan and queues theirs again (the re-drive puts the check
    // job, lost too, back): every sample is rescanned under the new ruleset, and only then is it done.
    const done = await pollUntil(
      async () => {
        const row = await retroscan();
        if (row?.status === 'done') return row;
        assert.notEqual(row?.status, 'superseded');
        return undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: 'the retro-scan to rescan every sample and end done' },
    );
    assert.equal(done.rescanned, SAMPLES, 'done only once every sample has its scan under the new ruleset');
    assert.equal(done.cursor, [...seeded].sort().at(-1), 'its check went over every sample');
    const [verdicts] = await query<{ stale: number }>(
      service.databaseUrl,
      `select count(*)::int as stale from samples s
        where not exists (select 1 from scans c where c.sample_sha256 = s.sha256 and c.ruleset_id = $1)`,
      [rulesetId],
    );
    assert.equal(verdicts?.stale, 0, 'no sample keeps a verdict of the previous ruleset only');
  });

  it('starts a scanner while Redis is down: it waits for Redis, then scans', async () => {
    // Nothing listens on the port yet: the API starts (not ready), and so must the scanner.
    const { redis, service } = await onPrivateRedis({ running: false, waitFor: 'live' });
    await untilScanner(service, 'live', 'the scanner to answer /health/live');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(service.scanner?.exitCode, null, `the scanner exited:\n${service.output()}`);

    redis.start();
    const agent = await service.token('agent');
    const bytes = benign(1280);
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    await untilStatus(service, submissionId, 'scanned', 'the scan once Redis is up');
  });

  it('stops a scanner on SIGTERM while Redis is down, also one started during the outage', async () => {
    const { redis, service } = await onPrivateRedis();
    await untilScanner(service, 'ready', 'the scanner to be ready');
    await redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const scanner = service.scanner;
    assert.ok(scanner !== null);
    const outcome = await terminate(scanner, 20_000);
    assert.notEqual(outcome, 'still running', `the scanner did not stop within 20 s:\n${service.output()}`);

    // Started while Redis is down, so its connections never came up.
    service.startScanner();
    const late = service.scanner;
    assert.ok(late !== null);
    await untilScanner(service, 'live', 'the scanner started during the outage to answer /health/live');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const lateOutcome = await terminate(late, 20_000);
    assert.notEqual(
      lateOutcome,
      'still running',
      `the late scanner did not stop within 20 s:\n${service.output()}`,
    );
  });

  it('answers at once while Redis is known to be down, and queues directly again once it is back', async (t) => {
    const { redis, service } = await onPrivateRedis();
    const agent = await enrolledAgent(service);
    const known = benign(1664);
    const first = await service.submit(known, fileMetadata(known), agent);
    assert.equal(first.status, 201, await first.clone().text());
    const lookup = () =>
      service.request('/v1/lookups', {
        method: 'POST',
        token: agent,
        ...json({ items: [{ sha256: sha256(known) }] }),
      });

    await redis.stop();
    await pollUntil(
      async () => ((await fetch(`${service.baseUrl}/health/ready`)).status === 503 ? true : undefined),
      { timeoutMs: 15_000, what: '/health/ready to say Redis is down' },
    );
    // The first request after Redis went away may still be the one that finds out.
    const warmUp = benign(1600);
    assert.equal((await service.submit(warmUp, fileMetadata(warmUp), agent)).status, 201);

    const timings: Record<string, number> = {};
    for (let i = 0; i < 3; i += 1) {
      const bytes = benign(1700 + i);
      const upload = await timed(() => service.submit(bytes, fileMetadata(bytes), agent));
      assert.equal(upload.res.status, 201, await upload.res.clone().text());
      const { submissionId } = (await upload.res.json()) as { submissionId: string };
      assert.equal(await statusOf(service, submissionId), 'received', 'its scan job waits in the outbox');
      timings[`upload ${i}`] = upload.ms;

      const looked = await timed(lookup);
      assert.equal(looked.res.status, 200, await looked.res.clone().text());
      const { items } = (await looked.res.json()) as { items: Array<{ known?: boolean }> };
      assert.equal(items[0]?.known, true);
      timings[`lookup ${i}`] = looked.ms;
    }
    // A consent change is published to the other replicas over Redis (best effort).
    const consent = await timed(() =>
      service.request('/v1/agents/me/consent', {
        method: 'PUT',
        token: agent,
        ...json({ participating: true, statementVersion: '2026-02' }),
      }),
    );
    assert.equal(consent.res.status, 200, await consent.res.clone().text());
    timings['PUT consent'] = consent.ms;
    const queues = await timed(() => service.request('/v1/queues'));
    assert.equal(queues.res.status, 503);
    assert.equal(((await queues.res.json()) as { error: { code: string } }).error.code, 'QUEUE_UNAVAILABLE');
    assert.equal(queues.res.headers.get('retry-after'), '5');
    timings['GET /v1/queues'] = queues.ms;
    // A replay of failed jobs is refused before its audit record: none says "replayed" of jobs left as they were.
    const replay = await timed(() =>
      service.request('/v1/admin/jobs/failed/replay', { method: 'POST', ...json({ queue: 'scan' }) }),
    );
    assert.equal(replay.res.status, 503, await replay.res.clone().text());
    timings['POST replay'] = replay.ms;
    const replays = await query(service.databaseUrl, `select 1 from audit_log where action = 'jobs.replay'`);
    assert.equal(replays.length, 0, 'no audit record of a replay that did not happen');
    const ready = await timed(() => fetch(`${service.baseUrl}/health/ready`));
    assert.equal(ready.res.status, 503);
    assert.equal(((await ready.res.json()) as { checks: Record<string, string> }).checks.redis, 'failed');
    timings['/health/ready'] = ready.ms;
    t.diagnostic(`answers during the outage (ms): ${JSON.stringify(timings)}`);
    const slow = Object.entries(timings).filter(([, ms]) => ms >= FAST_MS);
    assert.deepEqual(slow, [], `answers during the outage (ms): ${JSON.stringify(timings)}`);

    // Redis comes back (empty): the API notices by itself, and the next upload's job goes straight to Redis.
    redis.start();
    await pollUntil(
      async () => ((await fetch(`${service.baseUrl}/health/ready`)).status === 200 ? true : undefined),
      { timeoutMs: 15_000, what: '/health/ready once Redis is back' },
    );
    const after = benign(1800);
    const res = await service.submit(after, fileMetadata(after), agent);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    assert.notEqual(
      await statusOf(service, submissionId),
      'received',
      'queued in Redis, not left in the outbox',
    );
    await untilStatus(service, submissionId, 'scanned', 'the scan of an upload made after Redis came back');
  });

  it('scans again within seconds once Redis is back, after an outage long enough for a long back-off', async () => {
    const { redis, service } = await onPrivateRedis();
    const agent = await service.token('agent');
    const warm = benign(1900);
    const first = (await (await service.submit(warm, fileMetadata(warm), agent)).json()) as {
      submissionId: string;
    };
    await untilStatus(service, first.submissionId, 'scanned', 'a scan before the outage');

    // BullMQ's own reconnect back-off (1 s, then e^n s up to 20 s) had the scanner's workers try again
    // some 18 s into a 12 s outage: scans resumed ~6 s after Redis was back (17 s after a 40 s one).
    await redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    redis.start();
    await pollUntil(
      async () => ((await fetch(`${service.baseUrl}/health/ready`)).status === 200 ? true : undefined),
      { timeoutMs: 15_000, what: '/health/ready once Redis is back' },
    );
    const bytes = benign(1901);
    const started = performance.now();
    const { submissionId } = (await (await service.submit(bytes, fileMetadata(bytes), agent)).json()) as {
      submissionId: string;
    };
    await pollUntil(async () => ((await statusOf(service, submissionId)) === 'scanned' ? true : undefined), {
      timeoutMs: 4_000,
      intervalMs: 100,
      what: 'the scan of an upload made once Redis was back (within 4 s)',
    });
    assert.ok(performance.now() - started < 4_000);
  });
});
