import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { TestService, benign, fileMetadata, freePort, pollUntil } from '#test-support';

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
