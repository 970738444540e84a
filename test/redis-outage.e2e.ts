import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { createObjectStore, sampleKey } from '#storage';
import {
  TestService,
  benign,
  fileMetadata,
  freePort,
  md5,
  pollUntil,
  query,
  sha1,
  sha256,
} from '#test-support';

/** A private Redis without persistence (never the machine's shared one), so the test may stop it. */
function startRedis(port: number): ChildProcess {
  return spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
}

async function stopRedis(redis: ChildProcess | null): Promise<void> {
  if (redis === null || redis.exitCode !== null || redis.signalCode !== null) return;
  const exited = new Promise((resolve) => redis.once('exit', resolve));
  redis.kill('SIGKILL');
  await exited;
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
  const store = await createObjectStore(service.storageUrl);
  const found = { marked: new Set<string>(), all: [] as string[] };
  const values: unknown[][] = [];
  for (let i = 0; i < count; i += 1) {
    const bytes = benign(size);
    if (marked(i)) bytes.write(marker, 100 + i, 'ascii');
    const hash = sha256(bytes);
    await store.put(sampleKey(hash), Readable.from([bytes]));
    if (marked(i)) found.marked.add(hash);
    found.all.push(hash);
    values.push([hash, sha1(bytes), md5(bytes), bytes.length, sampleKey(hash)]);
  }
  for (let i = 0; i < values.length; i += 200) {
    const chunk = values.slice(i, i + 200);
    const rows = chunk.map(
      (_, r) =>
        `($${r * 5 + 1}, $${r * 5 + 2}, $${r * 5 + 3}, $${r * 5 + 4}, 'file', $${r * 5 + 5}, 'scanned', 'clean', now() - interval '1 day')`,
    );
    await query(
      service.databaseUrl,
      `insert into samples (sha256, sha1, md5, size, kind, object_key, scan_status, verdict, first_seen)
       values ${rows.join(', ')}`,
      chunk.flat(),
    );
  }
  return found;
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

describe('Redis outages', () => {
  const services: TestService[] = [];
  const redises: Array<ChildProcess | null> = [];
  after(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all(redises.map(stopRedis));
  });

  it('re-drives the outbox after Redis comes back without its data (the job schedulers are made again)', async () => {
    const port = await freePort();
    let redis = startRedis(port);
    redises.push(redis);
    const service = new TestService({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    services.push(service);
    await service.start();
    const agent = await service.token('agent');

    // Redis goes away: an upload is accepted into the outbox. It comes back empty, schedulers and all.
    await stopRedis(redis);
    const bytes = benign(1536);
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    assert.equal(await statusOf(service, submissionId), 'received');
    redis = startRedis(port);
    redises.push(redis);

    await untilStatus(
      service,
      submissionId,
      'scanned',
      'the outbox re-drive and the scan after Redis came back',
    );
  });

  it('queues again the scan of a sample whose job Redis lost with its data (it stayed unscanned for good)', async () => {
    const port = await freePort();
    let redis = startRedis(port);
    redises.push(redis);
    const service = new TestService({
      env: { REDIS_URL: `redis://127.0.0.1:${port}`, SCAN_STRANDED_AFTER_MS: '2000' },
    });
    services.push(service);
    await service.start();
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
    await stopRedis(redis);
    redis = startRedis(port);
    redises.push(redis);
    service.startScanner();
    await untilStatus(service, submissionId, 'scanned', 'the lost scan queued again and run');
  });

  it('goes on with a retrohunt and a retro-scan whose next batch job Redis lost with its data', async () => {
    const port = await freePort();
    let redis = startRedis(port);
    redises.push(redis);
    const service = new TestService({
      env: {
        REDIS_URL: `redis://127.0.0.1:${port}`,
        RETROHUNT_BATCH_SIZE: '20',
        RETROHUNT_CONCURRENCY: '1',
        RETROHUNT_STALLED_AFTER_MS: '2000',
      },
    });
    services.push(service);
    await service.start();
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
    await stopRedis(redis);
    redis = startRedis(port);
    redises.push(redis);
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

  it('starts a scanner while Redis is down: it waits for Redis, then scans', async () => {
    const port = await freePort();
    // Nothing listens on the port yet: the API starts (not ready), and so must the scanner.
    const service = new TestService({ env: { REDIS_URL: `redis://127.0.0.1:${port}` }, waitFor: 'live' });
    services.push(service);
    await service.start();
    await untilScanner(service, 'live', 'the scanner to answer /health/live');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(service.scanner?.exitCode, null, `the scanner exited:\n${service.output()}`);

    redises.push(startRedis(port));
    const agent = await service.token('agent');
    const bytes = benign(1280);
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    await untilStatus(service, submissionId, 'scanned', 'the scan once Redis is up');
  });

  it('stops a scanner on SIGTERM while Redis is down, also one started during the outage', async () => {
    const port = await freePort();
    const redis = startRedis(port);
    redises.push(redis);
    const service = new TestService({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    services.push(service);
    await service.start();
    await untilScanner(service, 'ready', 'the scanner to be ready');
    await stopRedis(redis);
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
});
