import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { createObjectStore, sampleKey } from '#storage';
import {
  TestService,
  benign,
  fileMetadata,
  freePort,
  pollUntil,
  query,
  sha256,
  startS3Server,
} from '#test-support';

interface SubmissionView {
  status: string;
  verdict: string | null;
}

async function submissionOf(service: TestService, id: string): Promise<SubmissionView> {
  const res = await service.request(`/v1/submissions/${id}`);
  assert.equal(res.status, 200);
  return (await res.json()) as SubmissionView;
}

describe('nothing accepted is lost', () => {
  const services: TestService[] = [];
  /** S3 servers, closed once the services that use them have stopped. */
  const closers: Array<() => Promise<void>> = [];
  after(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all(closers.map((close) => close()));
  });

  it('commits the scan job to the outbox when Redis is unreachable, and the scanner re-drives it', async () => {
    // The API gets a Redis address where nothing listens; the scanner gets the real one.
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const service = new TestService({ apiEnv: { REDIS_URL: deadRedis }, waitFor: 'live' });
    services.push(service);
    await service.start();
    const ready = await service.request('/health/ready', { token: null });
    assert.equal(ready.status, 503);
    assert.deepEqual(((await ready.json()) as { checks: Record<string, string> }).checks, {
      database: 'ok',
      redis: 'failed',
      storage: 'ok',
    });

    const agent = await service.token('agent');
    const bytes = benign(2048);
    const res = await service.submit(bytes, fileMetadata(bytes), agent);
    assert.equal(res.status, 201, await res.clone().text());
    const { submissionId } = (await res.json()) as { submissionId: string };
    assert.equal((await submissionOf(service, submissionId)).status, 'received');
    const rows = await query(service.databaseUrl, `select 1 from outbox where payload->>'sha256' = $1`, [
      sha256(bytes),
    ]);
    assert.equal(rows.length, 1);

    const done = await pollUntil(
      async () => {
        const s = await submissionOf(service, submissionId);
        return s.status === 'scanned' ? s : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 250, what: 'the outbox re-drive and scan' },
    );
    assert.equal(done.verdict, 'clean');
    const left = await query(service.databaseUrl, 'select 1 from outbox');
    assert.equal(left.length, 0);
  });

  for (const driver of ['fs', 's3'] as const) {
    it(`keeps a scan that fails for good visible: failed status, reason, failed job kept (${driver} driver)`, async () => {
      const s3 = driver === 's3' ? await startS3Server() : undefined;
      if (s3 !== undefined) closers.push(() => s3.close());
      const service = new TestService({
        scanner: false,
        env: { SCAN_ATTEMPTS: '2' },
        ...(s3 === undefined ? {} : { storageUrl: s3.url }),
      });
      services.push(service);
      await service.start();
      const agent = await service.token('agent');
      const bytes = benign(1024);
      const res = await service.submit(bytes, fileMetadata(bytes), agent);
      assert.equal(res.status, 201);
      const { submissionId } = (await res.json()) as { submissionId: string };
      assert.equal((await submissionOf(service, submissionId)).status, 'queued');

      // The bytes vanish before any scanner runs: the job cannot succeed, whatever the retries.
      const store = await createObjectStore(service.storageUrl);
      await store.delete(sampleKey(sha256(bytes)));
      service.startScanner();

      const failed = await pollUntil(
        async () => {
          const s = await submissionOf(service, submissionId);
          return s.status === 'failed' ? s : undefined;
        },
        { timeoutMs: 30_000, what: 'the scan to fail' },
      );
      assert.equal(failed.verdict, null);
      const sample = (await (await service.request(`/v1/samples/${sha256(bytes)}`)).json()) as {
        scanStatus: string;
      };
      assert.equal(sample.scanStatus, 'failed');
      const [scan] = await query<{ status: string; error: string }>(
        service.databaseUrl,
        'select status, error from scans where sample_sha256 = $1',
        [sha256(bytes)],
      );
      assert.equal(scan?.status, 'failed');
      assert.match(scan?.error ?? '', /missing from storage/);

      const queue = new Queue('scan', {
        connection: { url: 'redis://127.0.0.1:6379' },
        prefix: service.queuePrefix,
      });
      try {
        const jobs = await queue.getFailed();
        assert.equal(jobs.length, 1);
        assert.match(jobs[0]?.failedReason ?? '', /missing from storage/);
        assert.equal(jobs[0]?.attemptsMade, 1, 'unrecoverable: not retried');
      } finally {
        await queue.close();
      }
    });
  }
});
